"""The xLSTM paper (mLSTM and sLSTM)."""

from zoo.models.citations import register_paper

register_paper("beck2024xlstm", title="xLSTM: Extended Long Short-Term Memory",
               url="https://arxiv.org/abs/2405.04517", bibtex="""
@inproceedings{beck2024xlstm,
  title     = {x{LSTM}: Extended Long Short-Term Memory},
  author    = {Beck, Maximilian and P{\\"o}ppel, Korbinian and Spanring, Markus and Auer, Andreas and
               Prudnikova, Oleksandra and Kopp, Michael and Klambauer, G{\\"u}nter and Brandstetter, Johannes and
               Hochreiter, Sepp},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}""")
