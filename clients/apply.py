r"""Switch an attribute on your own photo with an exported model.

    python -m clients.apply --export_dir=exports/celeba_glasses/1 --image=photo.jpg \
        --attribute=Eyeglasses --point=3,3 --out=out.png

finds the face and its eyes (OpenCV's bundled Haar cascades), warps the photo so the eyes land
where CelebA's aligned images have them, applies the training crop and resize
(`clients.face_alignment`, `clients.pictures`), switches the attribute (`clients.switcher`) and writes
the aligned input, its reconstruction and the switched image side by side (each enlarged to at
least 160 px; --out_aligned also writes the 218x178 aligned frame).

  --point=a,b           CSVAE: the point of W_attribute (dim_w values), e.g. the present prior mean
  --strength=p          CondVAE / CondVAE-info: the target label's value p (§4.3)
  --labels=A,B          the photo's own labels (names present, the others absent), for q(w|x,y) and
                        the reconstruction; none given: unknown, which a semi-supervised CSVAE export
                        fills from q(y|x) (other exports take them as absent)
  --no_align            the image is already an aligned crop (a 218x178 CelebA frame gets the
                        training crop; anything else is only resized)
  --eyes=x1,y1,x2,y2    place the eyes by hand (photo pixels) instead of detecting them
                        (a photo longer than 2048 px is read reduced to that; the eyes follow)
  --serving_url, --metadata   use TF Serving's REST API instead of a local SavedModel

Several attributes at once: repeat as --attribute=Eyeglasses,Mustache --point=3,3,2,-1 (the
values of each attribute in turn), which sets both (Fig. 5).
"""

from __future__ import annotations

import sys
from typing import List, Optional, Sequence

import numpy as np

from clients import face_alignment, pictures
from clients.backends import BackendError, open_backend
from clients.switcher import SUBSPACE, Switcher, SwitchError


class ApplyError(ValueError):
    """Bad flags; the message (one line) says what to send."""


def parse_floats(text: Optional[str], name: str) -> Optional[List[float]]:
    if text is None or text == "":
        return None
    try:
        return [float(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise ApplyError(f"--{name}={text!r}: expected comma-separated numbers, e.g. --{name}=3,3.") from None


def switch_values(switcher: Switcher, attributes: Sequence[str], point: Optional[Sequence[float]],
                  strength: Optional[Sequence[float]]) -> dict:
    """{attribute index: value} from --attribute and --point (CSVAE) or --strength (baselines)."""
    indices = [switcher.attribute_index(a) for a in attributes]
    if switcher.kind == SUBSPACE:
        if strength is not None:
            raise ApplyError(f"A CSVAE switches with a point of W_i: pass --point (dim_w={switcher.dim_w} values per "
                             f"attribute), not --strength.")
        if point is None:
            loc = ",".join(f"{v:g}" for v in switcher.prior()["present_loc"])
            raise ApplyError(f"Pass --point=<{switcher.dim_w} values> for each attribute (the present prior mean is "
                             f"{loc}).")
        if len(point) != switcher.dim_w * len(indices):
            raise ApplyError(f"--point has {len(point)} values; {len(indices)} attribute(s) x dim_w={switcher.dim_w} "
                             f"= {switcher.dim_w * len(indices)} expected.")
        return {i: np.asarray(point[j * switcher.dim_w:(j + 1) * switcher.dim_w], np.float32)
                for j, i in enumerate(indices)}
    if point is not None:
        raise ApplyError(f"A {switcher.model} switches with a strength p: pass --strength (one value per attribute), "
                         f"not --point.")
    strength = [1.0] * len(indices) if strength is None else strength
    if len(strength) != len(indices):
        raise ApplyError(f"--strength has {len(strength)} values for {len(indices)} attribute(s).")
    return {i: float(p) for i, p in zip(indices, strength)}


def apply_to_photo(switcher: Switcher, photo: np.ndarray, attributes: Sequence[str], point=None, strength=None,
                   labels: Sequence[str] = (), align: bool = True, eyes=None,
                   min_face: int = face_alignment.DEFAULT_MIN_FACE):
    """(row uint8 [h, w, 3]: aligned input | reconstruction | switched, prepared photo, switched float32 [*shape]).

    One attribute goes through `switch_one_attribute`; several through `switch_attribute` at once.
    """
    if not switcher.can_switch:
        raise SwitchError(f"This {switcher.model} export has no switch signature (a VAE's switch needs latent "
                          f"class means of a dataset): nothing to apply. Export a CSVAE, CondVAE or CondVAE-info run.")
    values = switch_values(switcher, attributes, point, strength)
    prepared = pictures.photo_to_inputs(photo, switcher.input_shape, align=align, eyes=eyes, min_face=min_face)
    # labels nobody gave are unknown: NaN where the export fills them from q(y|x), else absent (0)
    y = switcher.unknown_labels(1) if not labels else np.zeros([1, switcher.num_labels], np.float32)
    for name in labels:
        y[0, switcher.attribute_index(name)] = 1.0
    x = prepared.inputs[None]
    reconstruction = switcher.reconstruct(x, y)[0]
    if len(values) == 1:
        (attribute, value), = values.items()
        switched = switcher.switch_one(x, y, attribute, value)[0]
    else:
        switched = switcher.switch_many(x, y, values)[0]
    shape = switcher.input_shape
    row = pictures.side_by_side([pictures.to_picture(v, shape) for v in (prepared.inputs, reconstruction, switched)])
    return row, prepared, switched


def define_flags():
    from absl import flags  # noqa: PLC0415

    from csvae_tf import paths  # noqa: PLC0415

    paths.DEFINE_path("export_dir", None, "An exported SavedModel: EXPORT/<version>.")
    flags.DEFINE_string("serving_url", None, "Instead of --export_dir: TF Serving's REST model URL "
                        "(http://HOST:8501/v1/models/NAME).")
    paths.DEFINE_path("metadata", None, "With --serving_url: the export folder or its assets/csvae_metadata.json.")
    paths.DEFINE_path("image", None, "The photo (PNG, JPEG, ...).")
    flags.DEFINE_list("attribute", None, "Attribute name(s) or index(es) to switch, e.g. Eyeglasses.")
    flags.DEFINE_string("point", None, "CSVAE: the point of W_attribute, dim_w comma-separated values per attribute.")
    flags.DEFINE_string("strength", None, "CondVAE / CondVAE-info: the strength p per attribute (default 1).")
    flags.DEFINE_list("labels", [], "The photo's own labels (names of the attributes it has).")
    paths.DEFINE_path("out", "switched.png", "Where to write aligned input | reconstruction | switched.")
    paths.DEFINE_path("out_aligned", None, "Also write the 218x178 aligned frame here.")
    flags.DEFINE_bool("no_align", False, "The image is already an aligned crop: no face detection.")
    flags.DEFINE_string("eyes", None, "x1,y1,x2,y2: the eyes' centres in photo pixels (skips detection).")
    flags.DEFINE_integer("min_face_size", face_alignment.DEFAULT_MIN_FACE, "Smallest face width (px) accepted.")


def main(argv):
    del argv
    from absl import flags  # noqa: PLC0415

    FLAGS = flags.FLAGS
    if not FLAGS.image or not FLAGS.attribute:
        sys.exit("error: --image and --attribute are required (and --export_dir, or --serving_url with --metadata).")
    photo = None
    try:
        eyes = parse_floats(FLAGS.eyes, "eyes")
        if eyes is not None and (len(eyes) != 4 or not np.isfinite(eyes).all()):
            raise ApplyError(f"--eyes takes 4 finite numbers, x1,y1,x2,y2 (photo pixels), got {FLAGS.eyes!r}.")
        pictures.check_output_path(FLAGS.out, "out")  # before the work, not after it
        if FLAGS.out_aligned:
            pictures.check_output_path(FLAGS.out_aligned, "out_aligned")
        photo = pictures.read_photo(FLAGS.image)  # a large photo comes reduced: --eyes follow it
        if eyes is not None:
            eyes = photo.to_pixels(pictures.check_eyes(eyes, *photo.size)).reshape(-1)
        switcher = Switcher(open_backend(FLAGS.export_dir, FLAGS.serving_url, FLAGS.metadata))
        row, prepared, _ = apply_to_photo(
            switcher, photo.pixels, FLAGS.attribute,
            point=parse_floats(FLAGS.point, "point"), strength=parse_floats(FLAGS.strength, "strength"),
            labels=FLAGS.labels, align=not FLAGS.no_align, eyes=eyes, min_face=FLAGS.min_face_size)
    except face_alignment.AlignmentError as error:  # its pixel sizes are those of the photo as read
        sys.exit(f"error: {error}" + (f" ({photo.note().rstrip('; ')})" if photo and photo.reduced else ""))
    except (ApplyError, BackendError, SwitchError, pictures.PictureError) as error:
        sys.exit(f"error: {error}")
    pictures.write_image(FLAGS.out, row)
    if FLAGS.out_aligned and prepared.aligned is not None:
        pictures.write_image(FLAGS.out_aligned, prepared.aligned)
    print(f"{photo.note()}{prepared.note}. Wrote {FLAGS.out} (aligned input | reconstruction | switched).")


if __name__ == "__main__":
    import clients

    define_flags()
    clients.run(main)
