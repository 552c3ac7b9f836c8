"""The DeltaNet papers: the chunked delta rule, and gated DeltaNet."""

from zoo.models.citations import register_paper

register_paper("yang2024parallelizing", title="Parallelizing Linear Transformers with the Delta Rule over Sequence "
               "Length", url="https://arxiv.org/abs/2406.06484", bibtex="""
@inproceedings{yang2024parallelizing,
  title     = {Parallelizing Linear Transformers with the Delta Rule over Sequence Length},
  author    = {Yang, Songlin and Wang, Bailin and Zhang, Yu and Shen, Yikang and Kim, Yoon},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}""")

register_paper("yang2025gated", title="Gated Delta Networks: Improving Mamba2 with Delta Rule",
               url="https://arxiv.org/abs/2412.06464", bibtex="""
@inproceedings{yang2025gated,
  title     = {Gated Delta Networks: Improving Mamba2 with Delta Rule},
  author    = {Yang, Songlin and Kautz, Jan and Hatamizadeh, Ali},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2025}
}""")
