"""The Mamba papers (Mamba-1's selective scan, Mamba-2's state space duality, NVIDIA's Mamba-2-Hybrid study)."""

from zoo.models.citations import register_paper

register_paper("gu2023mamba", title="Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
               url="https://arxiv.org/abs/2312.00752", bibtex="""
@article{gu2023mamba,
  title   = {Mamba: Linear-Time Sequence Modeling with Selective State Spaces},
  author  = {Gu, Albert and Dao, Tri},
  journal = {arXiv preprint arXiv:2312.00752},
  year    = {2023}
}""")

register_paper("dao2024transformers", title="Transformers are SSMs: Generalized Models and Efficient Algorithms "
               "Through Structured State Space Duality", url="https://arxiv.org/abs/2405.21060", bibtex="""
@inproceedings{dao2024transformers,
  title     = {Transformers are {SSM}s: Generalized Models and Efficient Algorithms Through Structured State Space
               Duality},
  author    = {Dao, Tri and Gu, Albert},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024}
}""")
