"""Weights and their manifest: hash-checked loading, and publishing a run's export (lineage kept as stages,
worse stages and silent overwrites refused)."""

import json

import pytest
import torch

from models.registry import create_model
from models.weights import WeightsError, load_model, main, publish, save_weights, sha256_of, write_manifest_entry


def test_checkpoint_round_trip_and_hash_check(tmp_path):
    model = create_model("resnet_ca_s").eval()
    sha = save_weights(model, tmp_path / "m.pt")
    write_manifest_entry(tmp_path, "m", {"file": "m.pt", "sha256": sha})
    loaded, entry = load_model(tmp_path, "m")
    x = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(loaded(x).logits, model(x).logits)
    with open(tmp_path / "m.pt", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(WeightsError, match="sha256"):
        load_model(tmp_path, "m")


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no weights manifest"):
        load_model(tmp_path, "emotion")
    write_manifest_entry(tmp_path, "emotion", {"file": "gone.pt", "sha256": "0"})
    with pytest.raises(WeightsError, match="missing"):
        load_model(tmp_path, "emotion")
    with pytest.raises(WeightsError, match="not in"):
        load_model(tmp_path, "other")


def test_a_file_of_an_unknown_kind_is_a_weights_error(tmp_path):
    model = create_model("resnet_ca_s")
    save_weights(model, tmp_path / "ok.pt")
    assert torch.load(tmp_path / "ok.pt", weights_only=True)["kind"] == "emotion_net"  # what a file records
    path = tmp_path / "m.pt"
    torch.save({"kind": "mystery", "config": model.config.to_dict(), "state_dict": model.state_dict()}, path)
    write_manifest_entry(tmp_path, "m", {"file": "m.pt", "sha256": sha256_of(path)})
    with pytest.raises(WeightsError, match="unknown kind 'mystery'"):
        load_model(tmp_path, "m", kind=None)


def _export(directory, name: str, accuracy: float, command: str, seed: int) -> str:
    torch.manual_seed(seed)
    sha = save_weights(create_model("resnet_ca_s"), directory / f"{name}.pt")
    metrics = {"publictest_original": {"accuracy": accuracy, "macro_f1": accuracy - 0.1}}
    entry = {"file": f"{name}.pt", "sha256": sha, "metrics": metrics, "command": command, "commit": f"c{seed}"}
    write_manifest_entry(directory, name, {**entry, "history": [{"epoch": 1, "accuracy": accuracy}]})
    return sha


@pytest.fixture
def dirs(tmp_path):
    shipped, run = tmp_path / "weights", tmp_path / "run"
    old_sha = _export(shipped, "emotion", 0.60, "train stage 1", seed=1)
    new_sha = _export(run, "emotion", 0.65, "train stage 2", seed=2)
    return shipped, run, old_sha, new_sha


def test_a_better_run_becomes_the_next_stage(dirs) -> None:
    shipped, run, old_sha, new_sha = dirs
    publish(run, "emotion", shipped, as_stage=True)
    entry = json.loads((shipped / "manifest.json").read_text())["models"]["emotion"]
    assert entry["sha256"] == new_sha and entry["file"] == "emotion.pt"
    first, second = entry["stages"]
    assert first == {
        "stage": 1,
        "command": "train stage 1",
        "commit": "c1",
        "sha256": old_sha,
        "history": [{"epoch": 1, "accuracy": 0.60}],
        "publictest_accuracy": 0.60,
        "publictest_macro_f1": pytest.approx(0.50),
    }
    assert second == {"stage": 2, "command": "train stage 2", "init": f"stage 1 weights, sha256 {old_sha}"}
    assert entry["reproduce"] == ["train stage 1", "train stage 2  # run with stage 1's weights in weights/emotion.pt"]
    load_model(shipped, "emotion")  # the copied file matches its new manifest entry

    third_sha = _export(run, "emotion", 0.66, "train stage 3", seed=3)
    publish(run, "emotion", shipped, as_stage=True)
    entry = json.loads((shipped / "manifest.json").read_text())["models"]["emotion"]
    assert [s["stage"] for s in entry["stages"]] == [1, 2, 3]
    assert entry["stages"][1]["sha256"] == new_sha and entry["sha256"] == third_sha
    assert entry["stages"][2]["init"] == f"stage 2 weights, sha256 {new_sha}"


def test_a_worse_stage_needs_force_and_a_name_is_never_silently_replaced(dirs) -> None:
    shipped, run, old_sha, _ = dirs
    _export(run, "emotion", 0.55, "worse", seed=4)
    with pytest.raises(WeightsError, match="below the shipped 0.6000"):
        publish(run, "emotion", shipped, as_stage=True)
    with pytest.raises(WeightsError, match="already in"):
        publish(run, "emotion", shipped, as_stage=False)
    assert json.loads((shipped / "manifest.json").read_text())["models"]["emotion"]["sha256"] == old_sha
    publish(run, "emotion", shipped, as_stage=True, force=True)
    assert json.loads((shipped / "manifest.json").read_text())["models"]["emotion"]["stages"][-1]["command"] == "worse"


def test_a_new_model_is_added_beside_the_others(dirs, tmp_path) -> None:
    shipped, _, old_sha, _ = dirs
    teacher_dir = tmp_path / "teacher"
    sha = _export(teacher_dir, "emotion_teacher_b", 0.64, "train b", seed=5)
    publish(teacher_dir, "emotion_teacher_b", shipped, as_stage=False)
    models = json.loads((shipped / "manifest.json").read_text())["models"]
    assert models["emotion_teacher_b"]["sha256"] == sha and models["emotion"]["sha256"] == old_sha
    assert (shipped / "emotion_teacher_b.pt").is_file()


def test_a_tampered_export_is_refused_with_a_message(dirs) -> None:
    shipped, run, _, _ = dirs
    (run / "emotion.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="has sha256 [0-9a-f]{64}, manifest says"):
        main(["--export-dir", str(run), "--name", "emotion", "--weights-dir", str(shipped), "--as-stage"])
    with pytest.raises(SystemExit, match="model 'nobody' is not in"):
        main(["--export-dir", str(run), "--name", "nobody", "--weights-dir", str(shipped)])
