"""The shipped checkpoint `checkpoints/hybrid-tiny-mqar`: it loads through the registry and still solves MQAR."""

import torch
from zoo.tasks import generate_mqar

import zoo


def test_shipped_hybrid_solves_fresh_mqar_examples(bound):
    """Fresh examples from a seed the training data never used (drawn from the `seed` fixture's generator):
    accuracy on the queried values >= 0.95 (the exported model measured 0.9945 on its test split)."""
    model = zoo.create_model("hybrid-tiny", pretrained="mqar")
    assert model.config.layers == ["mamba2", "attention"] and not model.training
    seed = int(torch.randint(10_000, 2**31 - 1, ()).item())
    inputs, labels = generate_mqar(512, seq_len=64, num_kv_pairs=4, vocab_size=256, power_a=0.01, seed=seed)
    with torch.no_grad():
        predictions = model(inputs).argmax(-1)
    queried = labels != -100
    accuracy = (predictions[queried] == labels[queried]).float().mean().item()
    bound(1 - accuracy, 0.05, f"error rate on the queried values of MQAR seed {seed}")


def test_shipped_checkpoint_equals_from_pretrained_of_its_folder():
    by_name = zoo.create_model("hybrid-tiny", pretrained=True)
    by_path = zoo.from_pretrained(zoo.factory.SHIPPED_CHECKPOINTS / "hybrid-tiny-mqar")
    ids = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        assert torch.equal(by_name(ids), by_path(ids))
