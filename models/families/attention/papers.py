"""The attention papers: the Transformer, and the sparse patterns (Longformer's sliding window and global tokens,
BigBird's blocks)."""

from zoo.models.citations import register_paper

register_paper("vaswani2017attention", title="Attention Is All You Need", url="https://arxiv.org/abs/1706.03762",
               bibtex="""
@inproceedings{vaswani2017attention,
  title     = {Attention Is All You Need},
  author    = {Vaswani, Ashish and Shazeer, Noam and Parmar, Niki and Uszkoreit, Jakob and Jones, Llion and
               Gomez, Aidan N. and Kaiser, {\\L}ukasz and Polosukhin, Illia},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2017}
}""")

register_paper("beltagy2020longformer", title="Longformer: The Long-Document Transformer",
               url="https://arxiv.org/abs/2004.05150", bibtex="""
@article{beltagy2020longformer,
  title   = {Longformer: The Long-Document Transformer},
  author  = {Beltagy, Iz and Peters, Matthew E. and Cohan, Arman},
  journal = {arXiv preprint arXiv:2004.05150},
  year    = {2020}
}""")

register_paper("zaheer2020bigbird", title="Big Bird: Transformers for Longer Sequences",
               url="https://arxiv.org/abs/2007.14062", bibtex="""
@inproceedings{zaheer2020bigbird,
  title     = {Big Bird: Transformers for Longer Sequences},
  author    = {Zaheer, Manzil and Guruganesh, Guru and Dubey, Kumar Avinava and Ainslie, Joshua and Alberti, Chris
               and Ontanon, Santiago and Pham, Philip and Ravula, Anirudh and Wang, Qifan and Yang, Li and Ahmed,
               Amr},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2020}
}""")
