"""CelebA from the official file formats: parsing, missing files, Larsen crop, §5.2.2 subsets, TFDS prep.

Every file is written by the test in CelebA's on-disk format; nothing is downloaded.
"""

import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_program
from csvae_tf.data import celeba

ATTRIBUTES = list(celeba.ATTRIBUTE_NAMES)


def _framed_face(value: int) -> np.ndarray:
    """218x178 image: the Larsen crop window filled with `value`, black outside."""
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = value
    return image


def _jpeg(image: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(image, quality=100).numpy()


def write_celeba(directory, num_images=60, zipped=True, seed=0, identities=True):
    """A tiny CelebA in the official formats; returns the attribute table it wrote (bool [n, 40])."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(num_images)]
    table = rng.random((num_images, len(ATTRIBUTES))) < 0.3
    table[:, ATTRIBUTES.index("No_Beard")] = rng.random(num_images) < 0.7
    with open(os.path.join(directory, celeba.ATTRIBUTES_FILE), "w") as f:
        f.write(f"{num_images}\n{' '.join(ATTRIBUTES)} \n")
        for name, row in zip(names, table):
            f.write(name + "".join(" 1" if v else " -1" for v in row).replace(" 1", "  1") + "\n")
    with open(os.path.join(directory, celeba.PARTITION_FILE), "w") as f:
        for i, name in enumerate(names):
            f.write(f"{name} {0 if i < num_images * 0.6 else 1 if i < num_images * 0.8 else 2}\n")
    if identities:
        with open(os.path.join(directory, celeba.IDENTITY_FILE), "w") as f:
            for i, name in enumerate(names):
                f.write(f"{name} {i % 7 + 1}\n")
    images = {name: _jpeg(_framed_face(int(40 + 3 * i) % 256)) for i, name in enumerate(names)}
    if zipped:
        with zipfile.ZipFile(os.path.join(directory, celeba.IMAGES_ZIP), "w") as archive:
            for name, data in images.items():
                archive.writestr(f"{celeba.IMAGES_DIR}/{name}", data)
    else:
        os.makedirs(os.path.join(directory, celeba.IMAGES_DIR))
        for name, data in images.items():
            with open(os.path.join(directory, celeba.IMAGES_DIR, name), "wb") as f:
                f.write(data)
    return table


def test_annotations_parse_the_official_format(tmp_path):
    table = write_celeba(tmp_path, num_images=20)
    annotations = celeba.read_annotations(str(tmp_path))
    assert annotations.attribute_names == ATTRIBUTES
    assert annotations.filenames[0] == "000001.jpg" and len(annotations.filenames) == 20
    np.testing.assert_array_equal(annotations.attributes, table)
    assert annotations.partition.tolist() == [0] * 12 + [1] * 4 + [2] * 4
    assert annotations.identities[:3].tolist() == [1, 2, 3]


def test_identities_are_optional(tmp_path):
    write_celeba(tmp_path, num_images=10, identities=False)
    assert (celeba.read_annotations(str(tmp_path)).identities == -1).all()


@pytest.mark.parametrize("removed", [celeba.IMAGES_ZIP, celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE])
def test_each_missing_file_is_named(tmp_path, removed):
    write_celeba(tmp_path, num_images=4)
    os.remove(tmp_path / removed)
    with pytest.raises(celeba.CelebAFilesMissing) as error:
        celeba.check_manual_dir(str(tmp_path))
    message = str(error.value)
    assert removed in message and str(tmp_path) in message and "--manual_dir" in message
    others = {celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE} - {removed}
    assert not any(f"missing {name}" in message for name in others)


def test_an_empty_directory_names_every_file(tmp_path):
    with pytest.raises(celeba.CelebAFilesMissing) as error:
        celeba.check_manual_dir(str(tmp_path))
    assert all(name in str(error.value).split("\n")[0]
               for name in (celeba.IMAGES_ZIP, celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE))


def test_larsen_crop_keeps_exactly_the_window_and_resizes_to_64():
    window = celeba.preprocess(_framed_face(255))
    assert window.shape == (64, 64, 3) and window.dtype == tf.float32
    np.testing.assert_allclose(window.numpy(), 1.0, atol=1e-6)  # nothing from outside the window
    # A vertical gradient inside the window stays a gradient: row order is preserved.
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = np.linspace(0, 255, 148).astype(np.uint8)[:, None, None]
    rows = celeba.preprocess(image).numpy()[:, 32, 0]
    assert rows[0] < 0.02 and rows[-1] > 0.98 and np.all(np.diff(rows) > 0)



def test_the_photo_crop_loads_no_tensorflow_datasets_or_more_keras():
    """A photo's crop (clients.face_alignment.training_crop, celeba.preprocess) in a fresh process loads no
    tensorflow_datasets and no Keras module beyond those `import tensorflow` itself loads."""
    program = ("import json, sys\n"
               "import numpy as np\n"
               "import tensorflow\n"
               "keras_of_tensorflow = {m for m in sys.modules if m.split('.')[0] == 'keras'}\n"
               "import clients.face_alignment\n"
               "from csvae_tf.data import celeba\n"
               "crop = clients.face_alignment.training_crop(np.full((218, 178, 3), 255, np.uint8))\n"
               "assert crop.shape == (64, 64, 3) and crop.min() > 0.99, (crop.shape, crop.min())\n"
               "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow_datasets' "
               "or m == 'csvae_tf.data.celeba_builder' "
               "or (m.split('.')[0] == 'keras' and m not in keras_of_tensorflow))))\n")
    run = run_program("-c", program, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []


def test_the_builder_is_one_registered_tfds_class():
    import tensorflow_datasets as tfds

    from csvae_tf.data import celeba_builder

    assert celeba.CelebA64 is celeba_builder.CelebA64 is celeba.CelebA64
    assert issubclass(celeba.CelebA64, tfds.core.GeneratorBasedBuilder)
    assert tfds.builder_cls("celeb_a64") is celeba.CelebA64
    with pytest.raises(AttributeError, match="CelebA65"):
        celeba.CelebA65  # noqa: B018 - only CelebA64 is resolved lazily


def _subset_sizes(annotations, subset, split):
    chosen = celeba.select_subset(annotations, subset, split, seed=0)
    return chosen, int(chosen.labels[:, 0].sum()), len(chosen.filenames)


def _assert_labels_follow_files(annotations, chosen, rule):
    """Each chosen file's label is what list_attr_celeba.txt says for that file name (not just the count)."""
    rows = {name: dict(zip(ATTRIBUTES, annotations.attributes[i])) for i, name in enumerate(annotations.filenames)}
    assert [bool(rule(rows[name])) for name in chosen.filenames] == chosen.labels[:, 0].astype(bool).tolist()


def test_subsets_follow_the_papers_balancing_per_split(tmp_path):
    write_celeba(tmp_path, num_images=300)
    annotations = celeba.read_annotations(str(tmp_path))
    column = {name: annotations.attributes[:, i] for i, name in enumerate(ATTRIBUTES)}
    for code, split in enumerate(celeba.SPLITS):
        in_split = annotations.partition == code
        glasses = int((column["Eyeglasses"] & in_split).sum())
        chosen, positives, total = _subset_sizes(annotations, "glasses", split)
        assert positives == glasses and total == 3 * glasses  # all with, twice as many without
        assert set(chosen.filenames) <= {n for n, s in zip(annotations.filenames, in_split) if s}
        _assert_labels_follow_files(annotations, chosen, lambda row: row["Eyeglasses"])
        hair = int(((~column["No_Beard"] | column["Mustache"] | column["Goatee"]) & in_split).sum())
        chosen, positives, total = _subset_sizes(annotations, "facial_hair", split)
        _assert_labels_follow_files(annotations, chosen,
                                    lambda row: not row["No_Beard"] or row["Mustache"] or row["Goatee"])
        without = int(in_split.sum()) - hair
        assert positives == hair and total == hair + min(hair, without)
        chosen, positives, total = _subset_sizes(annotations, "Heavy_Makeup", split)
        assert chosen.label_names == ["Heavy_Makeup"] and total == positives + min(positives, int(in_split.sum()) - positives)


def test_union_subset_has_both_labels_and_subsets_are_deterministic(tmp_path):
    write_celeba(tmp_path, num_images=200)
    annotations = celeba.read_annotations(str(tmp_path))
    union = celeba.select_subset(annotations, "glasses_facial_hair", "train", seed=4)
    glasses = celeba.select_subset(annotations, "glasses", "train", seed=4)
    hair = celeba.select_subset(annotations, "facial_hair", "train", seed=4)
    assert union.label_names == ["Eyeglasses", "Facial_Hair"] and union.labels.shape[1] == 2
    assert set(union.filenames) == set(glasses.filenames) | set(hair.filenames)
    assert union.filenames == celeba.select_subset(annotations, "glasses_facial_hair", "train", seed=4).filenames
    assert glasses.filenames != celeba.select_subset(annotations, "glasses", "train", seed=5).filenames
    with pytest.raises(ValueError, match="Unknown subset"):
        celeba.select_subset(annotations, "sunglasses", "train")


@pytest.mark.parametrize("zipped", [True, False])
def test_prepared_tfds_dataset_serves_the_subset(tmp_path, zipped):
    manual = tmp_path / "manual"
    write_celeba(manual, num_images=30, zipped=zipped)
    builder = celeba.prepare(str(manual), str(tmp_path / "tfds"))
    assert builder.info.splits["train"].num_examples == 18 and builder.info.splits["test"].num_examples == 6
    annotations = celeba.read_annotations(str(manual))
    chosen = celeba.select_subset(annotations, "Male", "train", seed=0)
    pairs = list(celeba.subset_dataset(builder, chosen, "train").as_numpy_iterator())
    assert len(pairs) == len(chosen.filenames)
    image, label = pairs[0]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert label.shape == (1,)
    # Image i (file 00000{i+1}.jpg) is a flat face of value 40 + 3 i: each served image carries its own file's label.
    male = {name: bool(row[ATTRIBUTES.index("Male")]) for name, row in zip(annotations.filenames, annotations.attributes)}
    for image, label in pairs:
        index = int(round((float(image[32, 32, 0]) - 40) / 3))
        assert bool(label[0]) == male[f"{index + 1:06d}.jpg"], index
    # The stored image is the preprocessed original: image i is a flat face of value 40 + 3 i.
    examples = {e["filename"].decode(): e for e in builder.as_dataset(split="train").as_numpy_iterator()}
    stored = examples["000003.jpg"]["image"].astype(np.float32) / 255.0
    np.testing.assert_allclose(stored, (40 + 3 * 2) / 255.0, atol=2.5 / 255.0)


def test_subset_label_names_and_unknown_subsets():
    assert celeba.subset_label_names("glasses_facial_hair") == ["Eyeglasses", "Facial_Hair"]
    assert celeba.subset_label_names("Heavy_Makeup") == ["Heavy_Makeup"]
    with pytest.raises(ValueError, match="Unknown subset 'beards'"):
        celeba.subset_label_names("beards")


# ---------------------------------------------------------------------------- bad files
# Each case edits one official file of a small valid copy; every one must end in a DataError whose
# single-line message names the file and the row, key or member at fault.


def _rewrite_line(path, number, edit):
    """Apply `edit` (str -> str) to 1-based line `number` of a text file."""
    with open(path) as f:
        lines = f.read().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _data_error(call, *fragments):
    with pytest.raises(celeba.DataError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_a_partition_code_other_than_0_1_2_is_refused(tmp_path):
    write_celeba(tmp_path, num_images=10)
    _rewrite_line(tmp_path / celeba.PARTITION_FILE, 4, lambda line: "000004.jpg 3")
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.PARTITION_FILE, "line 4", "000004.jpg",
                "'3'", "0 (train), 1 (validation) or 2 (test)")


@pytest.mark.parametrize("value", ["yes", "0", "2"])
def test_an_attribute_value_other_than_1_or_minus_1_is_refused(tmp_path, value):
    write_celeba(tmp_path, num_images=10)
    # Line 5 is the third image; its 16th value is Eyeglasses.
    _rewrite_line(tmp_path / celeba.ATTRIBUTES_FILE, 5,
                  lambda line: " ".join(line.split()[:16] + [value] + line.split()[17:]))
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "line 5", "000003.jpg",
                f"Eyeglasses is '{value}'", "1 (present) or -1 (absent)")


def test_a_renamed_attribute_in_the_header_is_named(tmp_path):
    write_celeba(tmp_path, num_images=6)
    _rewrite_line(tmp_path / celeba.ATTRIBUTES_FILE, 2, lambda line: line.replace("Eyeglasses", "Glasses"))
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "line 2",
                "name 16 is 'Glasses' where 'Eyeglasses' belongs")


def test_an_empty_attribute_file_is_named(tmp_path):
    write_celeba(tmp_path, num_images=4)
    open(tmp_path / celeba.ATTRIBUTES_FILE, "w").close()
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "is empty")


def test_a_duplicated_row_is_named_with_both_lines(tmp_path):
    write_celeba(tmp_path, num_images=6)
    _rewrite_line(tmp_path / celeba.ATTRIBUTES_FILE, 6, lambda line: line.replace("000004.jpg", "000002.jpg"))
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "line 6",
                "000002.jpg is listed twice (also on line 4)")
    write_celeba(tmp_path / "partition", num_images=6)
    _rewrite_line(tmp_path / "partition" / celeba.PARTITION_FILE, 3, lambda line: "000001.jpg 1")
    _data_error(lambda: celeba.read_annotations(str(tmp_path / "partition")), celeba.PARTITION_FILE, "line 3",
                "000001.jpg is listed twice (also on line 1)")


def test_vague_parse_errors_now_name_the_file_and_line(tmp_path):
    write_celeba(tmp_path, num_images=6)
    attributes = tmp_path / celeba.ATTRIBUTES_FILE
    _rewrite_line(attributes, 1, lambda line: "six")  # was: invalid literal for int()
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "line 1", "image count",
                "'six'")
    _rewrite_line(attributes, 1, lambda line: "6")
    _rewrite_line(attributes, 7, lambda line: line.rsplit(" ", 1)[0])  # was: "announces 6 images ... but has 6 rows"
    _data_error(lambda: celeba.read_annotations(str(tmp_path)), celeba.ATTRIBUTES_FILE, "line 7", "000005.jpg",
                "got 39 values")
    write_celeba(tmp_path / "b", num_images=6)
    _rewrite_line(tmp_path / "b" / celeba.ATTRIBUTES_FILE, 1, lambda line: "7")
    _data_error(lambda: celeba.read_annotations(str(tmp_path / "b")), "announces 7 images on line 1 but lists 6")
    _rewrite_line(tmp_path / "b" / celeba.ATTRIBUTES_FILE, 1, lambda line: "6")
    _rewrite_line(tmp_path / "b" / celeba.PARTITION_FILE, 2, lambda line: "000002.jpg 0 extra")  # too many values
    _data_error(lambda: celeba.read_annotations(str(tmp_path / "b")), celeba.PARTITION_FILE, "line 2",
                "got 3 fields")
    _rewrite_line(tmp_path / "b" / celeba.PARTITION_FILE, 2, lambda line: "000002.jpg 0")
    _rewrite_line(tmp_path / "b" / celeba.IDENTITY_FILE, 5, lambda line: "000005.jpg anna")
    _data_error(lambda: celeba.read_annotations(str(tmp_path / "b")), celeba.IDENTITY_FILE, "line 5", "000005.jpg",
                "'anna', expected an integer")


def test_no_validation_images_and_an_empty_subset_are_refused(tmp_path):
    write_celeba(tmp_path, num_images=20)
    with open(tmp_path / celeba.PARTITION_FILE, "w") as f:
        f.writelines(f"{i + 1:06d}.jpg {0 if i < 16 else 2}\n" for i in range(20))
    annotations = celeba.read_annotations(str(tmp_path))
    celeba.select_subset(annotations, "Male", "train")
    _data_error(lambda: celeba.select_subset(annotations, "Male", "validation"), celeba.PARTITION_FILE,
                "no image to the validation split (code 1)")
    no_glasses = annotations._replace(attributes=annotations.attributes.copy())
    no_glasses.attributes[:, ATTRIBUTES.index("Eyeglasses")] = False
    _data_error(lambda: celeba.select_subset(no_glasses, "glasses", "train"), "No train image",
                "has Eyeglasses", "'glasses' subset is empty")


def _zip_images(directory):
    with zipfile.ZipFile(directory / celeba.IMAGES_ZIP) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _write_zip(directory, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(directory / celeba.IMAGES_ZIP, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_zip_is_named(tmp_path, damage):
    write_celeba(tmp_path, num_images=6)
    path = tmp_path / celeba.IMAGES_ZIP
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data)))
    _data_error(lambda: celeba.prepare(str(tmp_path), str(tmp_path / "tfds")), str(path),
                "not a readable zip archive", "download it again")


def test_an_image_missing_from_the_zip_is_named_before_preparing(tmp_path):
    write_celeba(tmp_path, num_images=6)
    members = _zip_images(tmp_path)
    del members[f"{celeba.IMAGES_DIR}/000005.jpg"]
    _write_zip(tmp_path, members)
    _data_error(lambda: celeba.prepare(str(tmp_path), str(tmp_path / "tfds")), "1 of the 6 images",
                celeba.IMAGES_ZIP, "e.g. 000005.jpg")
    assert not (tmp_path / "tfds" / "celeb_a64").exists()


def test_a_member_with_a_bad_crc_is_named(tmp_path):
    write_celeba(tmp_path, num_images=6)
    _write_zip(tmp_path, _zip_images(tmp_path), zipfile.ZIP_STORED)
    path = tmp_path / celeba.IMAGES_ZIP
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{celeba.IMAGES_DIR}/000002.jpg")
    data = bytearray(path.read_bytes())
    # A stored member's bytes follow its 30-byte local header, name and extra field.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 500] ^= 0xFF
    path.write_bytes(bytes(data))
    _data_error(lambda: celeba.prepare(str(tmp_path), str(tmp_path / "tfds")), celeba.IMAGES_ZIP, "000002.jpg",
                "cannot be read", "CRC")


@pytest.mark.parametrize("content", ["not_jpeg", "wrong_size"])
def test_a_member_that_is_not_an_aligned_jpeg_is_named(tmp_path, content):
    write_celeba(tmp_path, num_images=6)
    members = _zip_images(tmp_path)
    members[f"{celeba.IMAGES_DIR}/000003.jpg"] = (
        b"this is a text file" if content == "not_jpeg" else _jpeg(np.zeros((250, 250, 3), np.uint8))
    )
    _write_zip(tmp_path, members)
    expected = "is not a JPEG image" if content == "not_jpeg" else "is 250x250, expected the aligned 218x178"
    _data_error(lambda: celeba.prepare(str(tmp_path), str(tmp_path / "tfds")), celeba.IMAGES_ZIP, "000003.jpg",
                expected)


def test_a_data_dir_prepared_from_other_files_is_refused(tmp_path):
    write_celeba(tmp_path / "first", num_images=10, seed=0)
    celeba.prepare(str(tmp_path / "first"), str(tmp_path / "tfds"))
    celeba.prepare(str(tmp_path / "first"), str(tmp_path / "tfds"))  # the same files: reused
    write_celeba(tmp_path / "other", num_images=10, seed=1)  # other attributes, same image names
    _data_error(lambda: celeba.prepare(str(tmp_path / "other"), str(tmp_path / "tfds")),
                "was prepared from other CelebA files", celeba.ATTRIBUTES_FILE, "--data_dir")
    # A copy prepared before the fingerprint was recorded is checked by its split sizes.
    builder = celeba.CelebA64(data_dir=str(tmp_path / "tfds"))
    os.remove(os.path.join(builder.data_dir, celeba.SOURCE_FILE))
    write_celeba(tmp_path / "bigger", num_images=20)
    _data_error(lambda: celeba.prepare(str(tmp_path / "bigger"), str(tmp_path / "tfds")), "holds 6 train images",
                "assigns 12")


def test_celeba_trainer_ends_a_damaged_zip_in_one_line(tmp_path):
    """Through the trainer's main: `error: ...` naming the file, no traceback, nothing trained."""
    manual = tmp_path / "celeba"
    write_celeba(manual, num_images=20)
    path = manual / celeba.IMAGES_ZIP
    path.write_bytes(path.read_bytes()[:1000])
    run = run_program("-m", "trainers.celeba", f"--model_dir={tmp_path / 'run'}", f"--manual_dir={manual}",
                      f"--data_dir={tmp_path / 'tfds'}", "--subset=Male", "--epochs=1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {path} is not a readable zip archive")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_celeba_trainer_reads_a_tilde_manual_dir_and_a_refused_start_leaves_no_run_folder(tmp_path):
    """`--manual_dir=~/celeba`, as the README types it (a shell leaves a `~` after `=` alone), and `$VARS`:
    the trainer reads the files there (here it gets as far as the damaged zip, checked after the
    annotations). The refused start takes away the run folder it made, lock included."""
    home, runs = tmp_path / "home", tmp_path / "runs"
    write_celeba(home / "celeba", num_images=20)
    path = home / "celeba" / celeba.IMAGES_ZIP
    path.write_bytes(path.read_bytes()[:1000])
    run = run_program("-m", "trainers.celeba", "--model_dir=$CSVAE_RUNS/celeba_glasses", "--manual_dir=~/celeba",
                      "--data_dir=${CSVAE_RUNS}/tfds", "--subset=Male", "--epochs=1",
                      env={"HOME": str(home), "CSVAE_RUNS": str(runs)})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {path} is not a readable zip archive")
    assert not runs.exists()


def test_missing_files_are_one_error_line_and_a_pre_existing_run_keeps_its_files(tmp_path):
    """The first line is the whole error (only what is missing, and where); the instructions follow it,
    indented. A run directory that was there before keeps every file, its lock file included."""
    write_celeba(tmp_path / "celeba", num_images=4)
    os.remove(tmp_path / "celeba" / celeba.PARTITION_FILE)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.json").write_text("{}")
    (run_dir / ".lock").write_text("")
    run = run_program("-m", "trainers.celeba", f"--model_dir={run_dir}", f"--manual_dir={tmp_path / 'celeba'}",
                      "--epochs=1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = run.stderr.rstrip().splitlines()
    errors = [number for number, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr[-2000:]
    assert lines[errors[0]] == f"error: CelebA not found in {tmp_path / 'celeba'}: missing {celeba.PARTITION_FILE}."
    instructions = lines[errors[0] + 1:]
    assert instructions and all(line.startswith("  ") for line in instructions), instructions
    assert sorted(os.listdir(run_dir)) == [".lock", "model.json"]


def test_a_manual_dir_that_does_not_exist_is_named_not_its_files(tmp_path):
    with pytest.raises(celeba.CelebAFilesMissing) as error:
        celeba.check_manual_dir(str(tmp_path / "celeba"))
    first = str(error.value).split("\n")[0]
    assert first.startswith(f"CelebA not found: {tmp_path / 'celeba'} does not exist;") and "missing" not in first
    assert all(line.startswith("  ") for line in str(error.value).split("\n")[1:])
