r"""A browser explorer of an exported model's attribute subspaces W_i (§4.3, Figs. 3d, 5, 11).

    python -m clients.explore --export_dir=exports/digits/1 --examples=digits_test.npz
    python -m clients.explore --serving_url=http://localhost:8501/v1/models/digits \
        --metadata=exports/digits/1 --examples=digits_test.npz

serves a local web page (Gradio, http://127.0.0.1:7860) over the export alone: the SavedModel
loaded with `tf.saved_model.load`, or TF Serving's REST `:predict` (`clients.backends`). No
training code and no checkpoint. The page shows

  - the input (an uploaded photo, aligned into CelebA's frame by `clients.face_alignment` unless
    "align" is unticked, or one of the --examples), the input as the model sees it, and its
    reconstruction (`clients.switcher`: the decoder at the input's own posterior means);
  - CSVAE: for each attribute i the plane of W_i (`clients.w_plane`) with the posterior means
    mu_phi2(x, y) of a reference sample of --examples coloured by y_i (Fig. 3d / 11), or draws of
    the prior's two components when the examples have no labels or there are none; the input's
    own point (x). Clicking a point p of W_i redraws G(x, p_i) at once (`switch_one_attribute`),
    and the "combined" image sets every clicked plane at once (`switch_attribute`): two planes give
    their Cartesian combination (Fig. 5);
  - CondVAE / CondVAE-info: a strength slider p per attribute (G(x, y, p y^1)); the combined
    image sets every slider's p at once;
  - VAE: the reconstruction, and a note that the export cannot switch.

--examples is an .npz (`inputs` float32 [n, *input_shape] in [0, 1], optional `labels` float32
[n, k]) or a folder of images (PNG/JPEG; faces are aligned unless --no_align) with an optional
labels.csv (`file,<label names...>`, 0/1; nan, -1 or empty for a missing label where the export
accepts missing labels, which then fills it from q(y|x)). The page loads nothing from the internet: Gradio's
analytics are off (GRADIO_ANALYTICS_ENABLED=False), there is no share link and the theme's fonts
are local.
"""

import csv
import functools
import os
import sys
from typing import Dict, List, NamedTuple, Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

from clients import face_alignment, pictures, w_plane  # noqa: E402
from clients.backends import BackendError, open_backend  # noqa: E402
from clients.switcher import CONDITIONAL, SUBSPACE, Switcher, SwitchError  # noqa: E402

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MAX_GALLERY = 24
STRENGTH_RANGE = (0.0, 3.0)  # Fig. 3: the baselines' p "chosen uniformly in the range [0, 3]"


class Examples(NamedTuple):
    """inputs: float32 [n, *input_shape]; labels: float32 [n, k] or None; names: n captions."""

    inputs: np.ndarray
    labels: Optional[np.ndarray]
    names: List[str]


class ExploreError(ValueError):
    """Bad flags or files; the message (one line) says what to do."""


# ---------------------------------------------------------------------------- examples
def load_examples(path: str, switcher: Switcher, align: bool = True, min_face: int = face_alignment.DEFAULT_MIN_FACE,
                  log=print) -> Examples:
    """--examples: an .npz (`inputs`, optional `labels`) or a folder of images with optional labels.csv."""
    shape = switcher.input_shape
    k = switcher.num_labels
    if os.path.isfile(path):
        if not path.endswith(".npz"):
            raise ExploreError(f"--examples={path}: expected an .npz file (inputs, labels) or a folder of images.")
        inputs, labels = _read_npz(path, shape)
        if labels is not None and labels.shape != (len(inputs), k):
            raise ExploreError(f"{path}: labels must be [n={len(inputs)}, k={k}], got {list(labels.shape)}.")
        if labels is not None:
            labels = np.stack([_label_row(row, path, f"labels row {i}", switcher.missing_labels)
                               for i, row in enumerate(labels)])
        finite = np.isfinite(inputs).reshape(len(inputs), -1).all(axis=1)
        if not finite.all():
            raise ExploreError(f"{path}: inputs row {int(np.argmin(finite))} holds NaN or Inf; every input must be "
                               f"finite.")
        return Examples(inputs, labels, [f"#{i}" for i in range(len(inputs))])
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise ExploreError(f"--examples={path} is not a regular file (a pipe, socket or device): pass an .npz "
                               f"or a folder of images.")
        raise ExploreError(f"--examples={path} does not exist: pass an .npz or a folder of images.")
    table = _read_labels_csv(os.path.join(path, "labels.csv"), switcher.label_names, switcher.missing_labels)
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
    inputs, labels, names, skipped = [], [], [], []
    for name in files:
        try:
            prepared = pictures.photo_to_inputs(pictures.read_image(os.path.join(path, name)), shape, align=align,
                                                min_face=min_face)
        except (face_alignment.AlignmentError, pictures.PictureError) as error:
            skipped.append(f"{name}: {error}")
            continue
        inputs.append(prepared.inputs)
        labels.append(table.get(name))
        names.append(name)
    for line in skipped:
        log(f"skipped {line}")
    if not inputs:
        raise ExploreError(f"No usable image in {path} ({len(files)} image files, {len(skipped)} skipped).")
    have_labels = table and all(row is not None for row in labels)
    if table and not have_labels:
        log("labels.csv does not list every image: the W planes show the prior instead of the posterior.")
    return Examples(np.stack(inputs), np.stack(labels) if have_labels else None, names)


def _read_npz(path: str, shape: List[int]):
    """(inputs float32 [n, *shape], labels float32 [n, k] or None) of an .npz of plain numeric arrays."""
    import zipfile  # noqa: PLC0415

    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single array (.npy), not an .npz archive")
            if "inputs" not in data.files:
                raise ExploreError(f"{path} has no `inputs` array (float32 [n, {', '.join(map(str, shape))}]); "
                                   f"it has {', '.join(data.files) or 'no arrays'}.")
            arrays = {name: data[name] for name in ("inputs", "labels") if name in data.files}
    except ExploreError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        reason = " ".join(str(error).split())[:120]
        raise ExploreError(f"{path} is not an .npz archive of numeric arrays ({reason}); write it with "
                           f"np.savez(path, inputs=..., labels=...).") from None
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise ExploreError(f"{path}: `{name}` holds {array.dtype} values, not numbers.")
    inputs = arrays["inputs"].astype(np.float32)
    if list(inputs.shape[1:]) != list(shape):
        raise ExploreError(f"{path}: inputs are {list(inputs.shape[1:])} per example, the export takes {shape}.")
    if len(inputs) == 0:
        raise ExploreError(f"{path} holds no examples (inputs is [0, {', '.join(map(str, shape))}]).")
    labels = arrays["labels"].astype(np.float32) if "labels" in arrays else None
    return inputs, labels


MISSING = ("nan", "", "-1", "-1.0", "?", "na")


def _label_row(values, path: str, where: str, missing_allowed: bool) -> np.ndarray:
    """One example's labels: 0/1, and NaN for a missing entry (nan, empty or -1) where the export takes it."""
    row = []
    for value in values:
        text = str(value).strip().lower()
        if text in MISSING:
            if not missing_allowed:
                raise ExploreError(f"{path}, {where}: {str(value).strip() or '(empty)'!r} is a missing label, which "
                                   f"this export does not take (only a semi-supervised CSVAE's does); give 0 or 1.")
            row.append(np.nan)
            continue
        try:
            number = float(text)
        except ValueError:
            number = None
        if number not in (0.0, 1.0):
            raise ExploreError(f"{path}, {where}: label {str(value).strip()!r} is not 0 or 1"
                               + (" (or nan / -1 for missing)." if missing_allowed else "."))
        row.append(number)
    return np.array(row, np.float32)


def _read_labels_csv(path: str, label_names: List[str], missing_allowed: bool = False) -> Dict[str, np.ndarray]:
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExploreError(f"{path} is not a text CSV ({error}); expected `file,{','.join(label_names)}` rows.") from None
    if not rows:
        raise ExploreError(f"{path} is empty: expected a header `file,{','.join(label_names)}` and one row per image.")
    header = [name.strip() for name in rows[0][1:]]
    missing = [name for name in label_names if name not in header]
    if missing:
        raise ExploreError(f"{path}: the header must name every label ({', '.join(label_names)}); missing {missing}.")
    columns = [header.index(name) + 1 for name in label_names]
    table, first_row = {}, {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < len(rows[0]):
            raise ExploreError(f"{path}, row {number}: {len(row)} values, the header has {len(rows[0])}.")
        name = row[0].strip()
        labels = _label_row([row[c] for c in columns], path, f"row {number}", missing_allowed)
        if name in table and not np.array_equal(table[name], labels, equal_nan=True):
            raise ExploreError(f"{path}: {name} is listed twice with different labels, rows {first_row[name]} and "
                               f"{number}; keep the one row that is right.")
        first_row.setdefault(name, number)
        table[name] = labels
    return table


# ---------------------------------------------------------------------------- the explorer
class Session(NamedTuple):
    """One browser tab's input: inputs float32 [*input_shape]; labels float32 [k]; own_w float [k, dim_w]
    (CSVAE) or None; values {attribute: W point or strength} set so far."""

    inputs: np.ndarray
    labels: np.ndarray
    own_w: Optional[np.ndarray]
    values: Dict[int, object]


class Explorer:
    """What the page computes, free of Gradio (tests drive it directly).

    Args:
      switcher: the export's switch.
      examples: the reference set / gallery, or None.
      num_reference: at most this many examples (a seeded sample) are encoded for the W planes.
    """

    def __init__(self, switcher: Switcher, examples: Optional[Examples] = None, num_reference: int = 1000,
                 seed: int = 0):
        self.switcher = switcher
        self.examples = examples
        self.views: List[w_plane.PlaneView] = []
        self.reference_note = ""
        if int(num_reference) < 0:
            raise ExploreError(f"--num_reference={num_reference}: expected 0 (no examples encoded: the planes show "
                               f"the prior) or a positive number of examples to encode.")
        if switcher.kind == SUBSPACE:
            self._make_views(int(num_reference), seed)

    def _make_views(self, num_reference: int, seed: int) -> None:
        s = self.switcher
        prior = s.prior()
        reference = labels = None
        usable = self.examples is not None and (self.examples.labels is not None or s.missing_labels)
        if usable and num_reference > 0:
            n = len(self.examples.inputs)
            chosen = np.sort(np.random.default_rng(seed).permutation(n)[:num_reference])
            given = None if self.examples.labels is None else self.examples.labels[chosen]
            # labels missing (NaN) where the export accepts it: coloured by the labels q(y|x) filled in
            reference, labels = s.w_means_and_labels(self.examples.inputs[chosen], given)  # [n, k, dim_w]
            filled = "" if given is not None and not np.isnan(given).any() else ", missing labels filled from q(y|x)"
            self.reference_note = f"posterior means mu_phi2(x, y) of {len(chosen)} examples{filled}"
        else:
            why = "no --examples" if self.examples is None else \
                "--num_reference=0" if usable else "the examples have no labels (q(w|x,y) needs them)"
            self.reference_note = f"draws of the prior's two components ({why})"
        for i, name in enumerate(s.label_names):
            present = None if reference is None else reference[labels[:, i] > 0.5, i]
            plane = w_plane.make_plane(s.dim_w, prior["present_loc"], present)
            self.views.append(w_plane.PlaneView(
                f"W_{i}: {name}", plane, prior,
                None if reference is None else reference[:, i],
                None if reference is None else labels[:, i] > 0.5, seed=seed + i))

    # -------------------------------------------------------------- inputs
    def session(self, inputs: np.ndarray, labels=None) -> Session:
        s = self.switcher
        inputs = np.asarray(inputs, np.float32).reshape(s.input_shape)
        labels = s.unknown_labels(1)[0] if labels is None else np.asarray(labels, np.float32)
        own_w = s.w_means(inputs[None], labels[None])[0] if s.kind == SUBSPACE else None
        return Session(inputs, labels, own_w, {})

    def example_session(self, index: int) -> Session:
        labels = None if self.examples.labels is None else self.examples.labels[index]
        return self.session(self.examples.inputs[index], labels)

    def picture(self, x: np.ndarray) -> np.ndarray:
        return pictures.to_picture(x, self.switcher.input_shape)

    def reconstruction(self, session: Session) -> np.ndarray:
        return self.picture(self.switcher.reconstruct(session.inputs[None], session.labels[None])[0])

    def plane(self, session: Optional[Session], attribute: int) -> np.ndarray:
        view = self.views[attribute]
        if session is None:
            return view.render()
        return view.render(own=None if session.own_w is None else session.own_w[attribute],
                           chosen=session.values.get(attribute))

    # -------------------------------------------------------------- switching
    def switched(self, session: Session, attribute: int) -> Optional[np.ndarray]:
        if attribute not in session.values:
            return None
        x = self.switcher.switch_one(session.inputs[None], session.labels[None], attribute, session.values[attribute])
        return self.picture(x[0])

    def combined(self, session: Session) -> Optional[np.ndarray]:
        if not session.values:
            return None
        return self.picture(self.switcher.switch_many(session.inputs[None], session.labels[None], session.values)[0])

    def click(self, session: Session, attribute: int, x: float, y: float) -> Optional[Session]:
        """A click at pixel (x, y) of W_attribute's picture: the session with that point set (None: outside the axes)."""
        view = self.views[attribute]
        if not view.contains(x, y):
            return None
        return session._replace(values={**session.values, attribute: view.pixel_to_w(x, y)})

    def set_strength(self, session: Session, attribute: int, strength: float) -> Session:
        values = dict(session.values)
        if strength == 0.0:
            values.pop(attribute, None)  # p = 0: the attribute off, as every unset one
        else:
            values[attribute] = float(strength)
        return session._replace(values=values)

    def describe(self, session: Optional[Session]) -> str:
        if session is None:
            return ""
        present = [n for n, v in zip(self.switcher.label_names, session.labels) if v > 0.5]
        unknown = [n for n, v in zip(self.switcher.label_names, session.labels) if np.isnan(v)]
        parts = [f"labels y: {', '.join(present) or 'none'}"
                 + (f" (unknown, filled from q(y|x): {', '.join(unknown)})" if unknown else "")]
        for attribute, value in sorted(session.values.items()):
            shown = ", ".join(f"{v:.3f}" for v in np.atleast_1d(value))
            parts.append(f"{self.switcher.label_names[attribute]} = ({shown})")
        return "; ".join(parts)


# ---------------------------------------------------------------------------- the page
def build_app(explorer: Explorer, title: str = "CSVAE explorer", align_default: bool = True,
              min_face: int = face_alignment.DEFAULT_MIN_FACE):
    """The Gradio Blocks page over `explorer` (module docstring)."""
    import gradio as gr  # noqa: PLC0415

    s = explorer.switcher
    k = s.num_labels
    examples = explorer.examples
    is_picture = pictures.picture_shape(s.input_shape) is not None
    face_input = is_picture and len(s.input_shape) == 3

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        state = gr.State(None)
        gr.Markdown(
            f"## {title}\n**{s.model}** export ({explorer.switcher.backend.description}); input "
            f"{s.input_shape}, k = {k} ({', '.join(s.label_names)})"
            + (f", dim_w = {s.dim_w}. W planes: {explorer.reference_note}. Click a plane to set "
               f"W_i; the combined image sets every clicked plane at once." if s.kind == SUBSPACE else "")
            + (". Move a slider to set the strength p of an attribute." if s.kind == CONDITIONAL else "")
            + ("" if s.can_switch else
               ". **This export cannot switch attributes** (a VAE's switch is latent arithmetic with class "
               "means of a dataset, docs/serving.md): the page shows reconstructions only."))
        with gr.Row():
            with gr.Column(scale=1, min_width=200):
                upload = gr.Image(label="Upload a photo", type="filepath", image_mode=None,  # the file as sent
                                  sources=["upload", "clipboard"], height=200, visible=is_picture, elem_id="upload")
                align = gr.Checkbox(label="Align the face (CelebA's eye positions)", value=align_default,
                                    visible=face_input, elem_id="align")
                gallery = gr.Gallery(
                    value=None if examples is None else [
                        (explorer.picture(x), name) for x, name in
                        zip(examples.inputs[:MAX_GALLERY], examples.names[:MAX_GALLERY])],
                    label="Examples (click one)", columns=6, height=160, visible=examples is not None,
                    allow_preview=False, format="png", elem_id="gallery")
            model_input = gr.Image(label="Input (as the model sees it)", format="png", interactive=False,
                                   height=200, elem_id="model_input")
            reconstruction = gr.Image(label="Reconstruction", format="png", interactive=False, height=200,
                                      elem_id="reconstruction")
            combined = gr.Image(label="Combined: every set attribute", format="png", interactive=False,
                                height=200, visible=s.can_switch, elem_id="combined")
        with gr.Row():
            labels = gr.CheckboxGroup(s.label_names, label="Labels y of the input (q(w|x,y) and the reconstruction use them)",
                                      elem_id="labels")
            clear = gr.Button("Clear the set points", visible=s.can_switch, elem_id="clear")
        status = gr.Markdown(elem_id="status")

        planes, sliders, switched = [], [], []
        per_row = 5 if k > 4 else max(k, 1)
        if s.can_switch:
            for start in range(0, k, per_row):
                with gr.Row():
                    for i in range(start, min(start + per_row, k)):
                        with gr.Column(min_width=180):
                            if s.kind == SUBSPACE:
                                planes.append(gr.Image(value=explorer.plane(None, i), label=f"W_{i}: {s.label_names[i]}",
                                                       format="png", interactive=False, elem_id=f"plane_{i}",
                                                       buttons=[]))
                            else:
                                sliders.append(gr.Slider(*STRENGTH_RANGE, value=0.0, step=0.05,
                                                         label=f"p for {s.label_names[i]}", elem_id=f"strength_{i}"))
                            switched.append(gr.Image(label=f"{s.label_names[i]} switched", format="png",
                                                     interactive=False, height=160, elem_id=f"switched_{i}"))

        def view(session, message=""):
            """Every output for a (new) session: input, reconstruction, combined, planes, switched, status."""
            if session is None:
                return [None, None, None] + [explorer.plane(None, i) for i in range(len(planes))] + \
                    [None] * len(switched) + [message]
            return ([explorer.picture(session.inputs), explorer.reconstruction(session), explorer.combined(session)]
                    + [explorer.plane(session, i) for i in range(len(planes))]
                    + [explorer.switched(session, i) for i in range(len(switched))]
                    + [message or explorer.describe(session)])

        outputs = [model_input, reconstruction, combined, *planes, *switched, status]

        def label_vector(names):
            if not names:  # nothing ticked: unknown, which an export that accepts missing labels fills
                return s.unknown_labels(1)[0]
            return np.array([name in names for name in s.label_names], np.float32)

        def guarded(handler, count, status_at):
            """`handler`, answering a signature's refusal or a failed request in the status line, not a traceback."""
            @functools.wraps(handler)  # keeps the annotations Gradio reads the event-data argument from
            def run(*args):
                try:
                    return handler(*args)
                except (BackendError, SwitchError, pictures.PictureError, face_alignment.AlignmentError) as error:
                    answer = [gr.skip()] * count
                    answer[status_at] = f"**Error:** {error}"
                    return answer
            return run

        def on_upload(path, do_align, names):
            if path is None:
                return [gr.skip()] * (len(outputs) + 1)
            photo = None
            try:  # the file as uploaded, read as `apply` reads it (orientation, bit depth, size bound)
                photo = pictures.read_photo(path)
                prepared = pictures.photo_to_inputs(photo.pixels, s.input_shape, align=do_align, min_face=min_face)
            except (face_alignment.AlignmentError, pictures.PictureError) as error:
                read = f" ({photo.note().rstrip('; ')})" if photo is not None and photo.reduced else ""
                return [gr.skip()] * len(outputs[:-1]) + [f"**Cannot use this photo:** {error}{read}", gr.skip()]
            session = explorer.session(prepared.inputs, label_vector(names))
            return view(session, f"{photo.note()}{prepared.note}. {explorer.describe(session)}") + [session]

        # No `from __future__ import annotations` in this module: Gradio finds the event-data argument
        # by its annotation, which must be the class itself.
        def on_example(evt: gr.SelectData):
            session = explorer.example_session(int(evt.index))
            present = [n for n, v in zip(s.label_names, session.labels) if v > 0.5]
            return view(session) + [session, present]

        def on_labels(names, session):
            if session is None:
                return [gr.skip()] * (len(outputs) + 1)
            session = explorer.session(session.inputs, label_vector(names))._replace(values=session.values)
            return view(session) + [session]

        def on_clear(session):
            if session is None:
                return [gr.skip()] * (len(outputs) + 1)
            session = session._replace(values={})
            return view(session) + [session]

        def on_start():
            if examples is None:
                return view(None, "Upload a photo to start.") + [None, None]
            session = explorer.example_session(0)
            present = [n for n, v in zip(s.label_names, session.labels) if v > 0.5]
            return view(session) + [session, present]

        last = len(outputs) - 1  # the status line
        upload.upload(guarded(on_upload, len(outputs) + 1, last), [upload, align, labels], outputs + [state])
        gallery.select(guarded(on_example, len(outputs) + 2, last), None, outputs + [state, labels])
        labels.input(guarded(on_labels, len(outputs) + 1, last), [labels, state], outputs + [state])
        clear.click(guarded(on_clear, len(outputs) + 1, last), [state], outputs + [state])
        app.load(guarded(on_start, len(outputs) + 2, last), None, outputs + [state, labels])

        def plane_handler(i):
            def on_click(session, evt: gr.SelectData):
                if session is None:
                    return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "Choose an example or upload a photo first."
                updated = explorer.click(session, i, *evt.index)
                if updated is None:
                    return gr.skip(), gr.skip(), gr.skip(), gr.skip(), "Click inside the axes."
                return (explorer.plane(updated, i), explorer.switched(updated, i), explorer.combined(updated),
                        updated, explorer.describe(updated))
            return on_click

        def slider_handler(i):
            def on_release(strength, session):
                if session is None:
                    return gr.skip(), gr.skip(), gr.skip(), "Choose an example or upload a photo first."
                updated = explorer.set_strength(session, i, float(strength))
                return explorer.switched(updated, i), explorer.combined(updated), updated, explorer.describe(updated)
            return on_release

        for i, plane in enumerate(planes):
            plane.select(guarded(plane_handler(i), 5, 4), [state], [plane, switched[i], combined, state, status])
        for i, slider in enumerate(sliders):
            slider.release(guarded(slider_handler(i), 4, 3), [slider, state], [switched[i], combined, state, status])
    return app


def launch(app, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve `app` locally: no share link, no server-side rendering process, local fonts; a quiet
    console (no share-link hint, no request lines of the HTTP client Gradio checks itself with)."""
    import logging  # noqa: PLC0415

    import gradio as gr  # noqa: PLC0415

    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return app.launch(server_name=host, server_port=port, share=False, ssr_mode=False, show_error=True,
                      prevent_thread_lock=not block, quiet=True, footer_links=[], mcp_server=False,
                      theme=gr.themes.Default(), pwa=False)


def check_port(host: str, port: int) -> None:
    """Refuse a port another program holds, in one line, before the page is built."""
    import socket  # noqa: PLC0415

    if not MIN_PORT <= port <= MAX_PORT:
        raise ExploreError(PORT_RANGE_MESSAGE.format(port=port))
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as error:
        raise ExploreError(f"Cannot serve on {host}:{port} ({error.strerror or error}): another program holds it; "
                           f"pass --port=<a free port>, e.g. --port={port + 1}.") from None


MIN_PORT, MAX_PORT = 1, 65535
PORT_RANGE_MESSAGE = "--port={port}: a TCP port is 1..65535; pass a free one, e.g. --port=7860."


# ---------------------------------------------------------------------------- program
def define_flags():
    from absl import flags  # noqa: PLC0415

    from csvae_tf import paths  # noqa: PLC0415

    paths.DEFINE_path("export_dir", None, "An exported SavedModel: EXPORT/<version> (holds saved_model.pb).")
    flags.DEFINE_string("serving_url", None, "Instead of --export_dir: TF Serving's REST model URL, "
                        "http://HOST:8501/v1/models/NAME (the same signatures over :predict).")
    paths.DEFINE_path("metadata", None, "With --serving_url: the export folder or its assets/csvae_metadata.json.")
    paths.DEFINE_path("examples", None, "Reference set and gallery: an .npz (inputs [n, *shape], labels [n, k]) "
                      "or a folder of images with an optional labels.csv.")
    flags.DEFINE_integer("num_reference", 1000, "Encode at most this many examples for the W planes (0: none, "
                         "the planes show draws of the prior).")
    flags.register_validator("num_reference", lambda v: v is not None and v >= 0,
                             "--num_reference must be 0 (the planes show the prior) or a positive number of examples.")
    flags.DEFINE_bool("align", True, "Align faces (uploads, example images) into CelebA's frame; "
                      "--noalign (or --no_align) for images that are already aligned crops.")
    flags.DEFINE_bool("no_align", False, "Same as --noalign.")
    flags.DEFINE_integer("min_face_size", face_alignment.DEFAULT_MIN_FACE, "Smallest face width (px) accepted.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to serve on (0.0.0.0 to reach it from other machines).")
    flags.DEFINE_integer("port", 7860, "Port to serve on (1..65535).")
    flags.register_validator("port", lambda v: v is not None and MIN_PORT <= v <= MAX_PORT,
                             "--port must be a TCP port, 1..65535 (default 7860).")


def main(argv):
    del argv
    from absl import flags  # noqa: PLC0415

    FLAGS = flags.FLAGS
    align = FLAGS.align and not FLAGS.no_align
    try:
        backend = open_backend(FLAGS.export_dir, FLAGS.serving_url, FLAGS.metadata)
        switcher = Switcher(backend)
        examples = None
        if FLAGS.examples:
            examples = load_examples(FLAGS.examples, switcher, align=align, min_face=FLAGS.min_face_size)
        explorer = Explorer(switcher, examples, num_reference=FLAGS.num_reference)
        check_port(FLAGS.host, FLAGS.port)
    except (BackendError, SwitchError, ExploreError, pictures.PictureError) as error:
        sys.exit(f"error: {error}")
    app = build_app(explorer, title=f"{switcher.model} explorer", align_default=align, min_face=FLAGS.min_face_size)
    print(f"Serving the {switcher.model} explorer on http://{FLAGS.host}:{FLAGS.port} (Ctrl-C to stop).")
    try:
        launch(app, FLAGS.host, FLAGS.port)
    except OSError as error:  # the port taken between the check and the launch
        sys.exit(f"error: cannot serve on {FLAGS.host}:{FLAGS.port} ({error}); pass --port=<a free port>.")


if __name__ == "__main__":
    import clients

    define_flags()
    clients.run(main)
