"""The BASED paper (Taylor linear attention beside short convolutions and sliding-window attention)."""

from zoo.models.citations import register_paper

register_paper("arora2024simple", title="Simple linear attention language models balance the recall-throughput "
               "tradeoff", url="https://arxiv.org/abs/2402.18668", bibtex="""
@inproceedings{arora2024simple,
  title     = {Simple linear attention language models balance the recall-throughput tradeoff},
  author    = {Arora, Simran and Eyuboglu, Sabri and Zhang, Michael and Timalsina, Aman and Alberti, Silas and
               Zinsley, Dylan and Zou, James and Rudra, Atri and R{\\'e}, Christopher},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2024}
}""")
