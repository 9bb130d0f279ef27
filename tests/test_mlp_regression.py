"""The layered network trains an MLP exactly as the MLP-only trainer did before it.

The figures were measured with the trainer of commit dc44b0c (before conv support),
on the first 2,000 / 500 MNIST images of mnist-10k: 784-64-10 tanh, seed 3, one
epoch, batch 32, SGD lr 0.3. The final loss must agree to the last bit and the
sha256 of the trained parameters (fc1.weight, fc1.bias, fc2.weight, fc2.bias as
float32 bytes) to its first 16 hex digits.
"""

from __future__ import annotations

import hashlib

import pytest

from neurosim.config.workload import Workload
from neurosim.data import load_dataset
from neurosim.learning import train

BEFORE = {
    "bp": (1.0058196510211566, 0.746, "b5214b741d98fea6"),
    "fa": (1.0078453120812774, 0.762, "b6c7970c4caf889e"),
    "dfa": (1.0043075942890718, 0.742, "6c7354770c40d4f3"),
    "sdfa": (1.0908934929119423, 0.68, "2c9e6757e47854e2"),
    "sign_dfa": (2.0705177889987825, 0.526, "c35dcb5289e948c9"),
    "drtp": (1.2371841093245894, 0.672, "0416b8eeceb4afad"),
    "fdfa": (1.6543883691504597, 0.682, "1c81e1438e2fbe66"),
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_mlp_training_is_bit_identical_to_before(name: str, mnist_dir) -> None:
    algo = {"name": name, "fanin": 1} if name == "sdfa" else name
    if name == "sign_dfa":  # recorded at the shared rate, before sign-DFA had its own default (0.05)
        algo = {"name": name, "learning_rate": 0.3}
    wl = Workload(
        name="before",
        seed=3,
        network={"layers": [784, 64, 10]},
        training={"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.3}},
        dataset={"name": "mnist", "train_limit": 2000, "test_limit": 500},
        algorithms=[algo],
    )
    data = load_dataset(wl.dataset)
    result = train(wl, wl.algorithms[0], data.x_train, data.y_train, data.x_test, data.y_test)
    digest = hashlib.sha256()
    for layer in sorted(result.weights):
        digest.update(result.weights[layer].tobytes())
        digest.update(result.biases[layer].tobytes())
    loss, accuracy, checksum = BEFORE[name]
    assert result.history[-1].loss == loss
    assert result.history[-1].test_accuracy == accuracy
    assert digest.hexdigest()[:16] == checksum
