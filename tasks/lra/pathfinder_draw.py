"""Drawing one Pathfinder sample (Linsley et al., 2018; LRA's Pathfinder and Path-X) and checking that it is solvable.

A sample is a grayscale image `uint8 [R, R]` (0 is background) and a label. The image holds contours: polylines
of `paddle_length`-pixel line segments ("paddles") joined end to end, each turning from the previous one by at most
`max_turn` degrees, drawn `thickness` pixels wide. Two of them, the targets, have `contour_length` paddles and start
`seed_distance` pixels apart (the first start at least that far from the edges); `distractors` more have
`distractor_length` paddles each and start at free pixels. Two marker dots (discs of `marker_radius` pixels) sit at
contour ends: one at the start of a target, the other at the far end of the same target (label 1, "connected") or
of the other target (label 0). Both targets are drawn whatever the label, so the classes differ only in where the
second dot is.

Geometry is in output pixels, points as `(y, x)`, pixel `(r, c)` covering `[r, r + 1) x [c, c + 1)`; every vertex
stays `max(marker_radius, thickness / 2)` from the edges. Contours are rasterised at `SUPERSAMPLE` x the resolution
(a sub-pixel is on when its centre lies within `thickness / 2` of a paddle, or within the radius of a shown
marker) and averaged down: a pixel is `round(255 * the fraction of its sub-pixels on)`, so every pixel a contour
touches is non-zero. A stroke at least 2 sub-pixels wide is 8-connected, and while drawing, each pixel of a contour
keeps at least `clearance` background pixels (Chebyshev distance > `clearance`) from every other contour and from
its own paddles more than `SELF_GAP` back: each contour is its own 8-connected component of the non-zero pixels.
Marker discs are reserved at all four target ends, shown or not, so no other contour comes near an end either.

Turns are drawn with density proportional to `cos(pi/2 * turn / max_turn) ** 2` on `[-max_turn, max_turn]` (the
weighting of the original generator, whose `continuity` c gives `max_turn = 90 / c` degrees; LRA's 1.8 is 50
degrees). A paddle that would leave the image or come near a contour is redrawn (`PADDLE_TRIES` turns); a contour
that runs into a dead end takes back its last `BACKTRACK` paddles; a target with too many dead ends, or a
distractor that finds no place, makes the whole sample be drawn again. Every finished drawing is then checked on
its final pixels (`stroke_components`): one component per contour, and the markers connected exactly when the
label says so; one that fails is drawn again (`Sample.rejected` counts them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SUPERSAMPLE = 4  # sub-pixels per pixel along each axis
MIN_THICKNESS = 2 / SUPERSAMPLE  # thinner strokes could fall apart into separate sub-pixels
SELF_GAP = 3  # a paddle may touch the previous SELF_GAP - 1 paddles of its contour, not older ones
PADDLE_TRIES = 8  # turns tried for one paddle
BACKTRACK = 3  # paddles taken back at a dead end
TARGET_DEAD_ENDS = 30  # dead ends of a target contour before the drawing is given up
DISTRACTOR_DEAD_ENDS = 4  # dead ends of a distractor before another start is tried
DISTRACTOR_TRIES = 20  # starts tried for one distractor
MAX_ATTEMPTS = 1000  # drawings of one sample before the spec is declared impossible

Point = np.ndarray  # float [2]: (y, x) in output pixels
Pixel = tuple[int, int]  # (row, col)


@dataclass(frozen=True)
class PathfinderSpec:
    """What to draw (see the module docstring); lengths in output pixels, `max_turn` in degrees. The defaults are
    LRA's hardest Pathfinder split, `curv_contour_length_14`, at 32 x 32 (`lra_spec` scales them to a resolution)."""

    resolution: int = 32
    contour_length: int = 14
    paddle_length: float = 2.0
    thickness: float = 0.5
    distractors: int = 5
    distractor_length: int = 4
    max_turn: float = 50.0
    marker_radius: float = 1.0
    seed_distance: float = 5.0
    clearance: int = 1

    def __post_init__(self) -> None:
        checks = (
            ("resolution", self.resolution >= 8, ">= 8"),
            ("contour_length", self.contour_length >= 1, ">= 1"),
            ("paddle_length", self.paddle_length > 0, "> 0"),
            ("thickness", self.thickness >= MIN_THICKNESS, f">= {MIN_THICKNESS} (thinner strokes would break apart)"),
            ("distractors", self.distractors >= 0, ">= 0"),
            ("distractor_length", self.distractor_length >= 1, ">= 1"),
            ("max_turn", 0 < self.max_turn <= 180, "in (0, 180] degrees"),
            ("marker_radius", self.marker_radius >= 1 / SUPERSAMPLE, f">= {1 / SUPERSAMPLE}"),
            ("seed_distance", 0 < self.seed_distance < self.resolution / 2 - self.border,
             "> 0 and below resolution / 2 - max(marker_radius, thickness / 2)"),
            ("clearance", self.clearance >= 1, ">= 1 pixel"),
        )
        for name, ok, bound in checks:
            if not ok:
                raise ValueError(f"Pathfinder {name} must be {bound}, got {getattr(self, name)}")

    @property
    def continuity(self) -> float:
        """The original generator's name for the turning bound: `90 / max_turn` (LRA: 1.8)."""
        return 90.0 / self.max_turn

    @property
    def border(self) -> float:
        """The least distance of a vertex from the image's edges: a marker disc or stroke fits inside."""
        return max(self.marker_radius, self.thickness / 2)

    @property
    def num_contours(self) -> int:
        """Contours in every image: two targets and the distractors."""
        return 2 + self.distractors


def lra_spec(resolution: int = 32, contour_length: int = 14, **overrides: float | None) -> PathfinderSpec:
    """LRA's settings for `contour_length` (paddle length 2, thickness 0.5, marker radius 1, seed distance 5 and
    clearance 1 pixels at 32 x 32, scaled by `resolution / 32`; `20 // (contour_length // 3)` distractors of
    `contour_length // 3` paddles, at least one), with any field in `overrides` that is not None replacing its
    value."""
    scale = resolution / 32
    short = max(1, contour_length // 3)
    fields = {"resolution": resolution, "contour_length": contour_length, "paddle_length": 2.0 * scale,
              "thickness": 0.5 * scale, "distractors": 20 // short, "distractor_length": short, "max_turn": 50.0,
              "marker_radius": 1.0 * scale, "seed_distance": 5.0 * scale, "clearance": max(1, round(scale))}
    fields.update({name: value for name, value in overrides.items() if value is not None})
    return PathfinderSpec(**fields)


@dataclass(frozen=True)
class Sample:
    """One drawn sample: `image` uint8 `[R, R]`, `label` (1: the markers are on one contour), the marker pixels
    `(row, col)`, the contours' vertices (float `[paddles + 1, 2]` each, `(y, x)`: the target whose start is marked,
    the other target, the distractors) and the drawings it took (`attempts`, of which `rejected` were finished but
    failed the pixel check)."""

    image: np.ndarray
    label: int
    markers: tuple[Pixel, Pixel]
    contours: tuple[np.ndarray, ...]
    attempts: int
    rejected: int


class _Canvas:
    """The state of one drawing: which contour owns each pixel (`owner`, -1 for none, with a border of `clearance`
    pixels so that neighbourhoods never leave the array), the paddle that first reached it (`order`), and the
    sub-pixels painted so far (`strokes`, bool `[R * S, R * S]`)."""

    def __init__(self, resolution: int, clearance: int) -> None:
        self.resolution, self.clearance = resolution, clearance
        self.owner = np.full((resolution + 2 * clearance,) * 2, -1, np.int16)
        self.order = np.zeros((resolution + 2 * clearance,) * 2, np.int16)
        self.strokes = np.zeros((resolution * SUPERSAMPLE,) * 2, bool)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.owner.copy(), self.order.copy(), self.strokes.copy()

    def restore(self, snapshot: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Return to `snapshot` (which stays usable for another restore)."""
        self.owner, self.order, self.strokes = (array.copy() for array in snapshot)

    def fits(self, shape: _Shape, contour: int, index: int) -> bool:
        """Whether `shape`, paddle (or marker) `index` of `contour`, keeps `clearance` pixels from every other
        contour and from the parts of its own contour more than `SELF_GAP` paddles back."""
        near = _dilate(shape.footprint, self.clearance)
        window = (slice(shape.row, shape.row + near.shape[0]), slice(shape.col, shape.col + near.shape[1]))
        owner, order = self.owner[window], self.order[window]
        blocked = near & (owner >= 0) & ((owner != contour) | (order <= index - SELF_GAP))
        return not blocked.any()

    def claim(self, shape: _Shape, contour: int, index: int) -> None:
        """Mark the pixels of `shape` as `contour`'s (those not yet claimed get `index` as their order)."""
        height, width = shape.footprint.shape
        row, col = shape.row + self.clearance, shape.col + self.clearance
        owner, order = self.owner[row:row + height, col:col + width], self.order[row:row + height, col:col + width]
        fresh = shape.footprint & (owner < 0)
        owner[fresh] = contour
        order[fresh] = index

    def free_pixels(self) -> np.ndarray:
        """The pixels (bool `[R, R]`) farther than `clearance` from every contour."""
        reach, size = self.clearance, self.resolution
        return ~_dilate(self.owner >= 0, reach)[2 * reach:2 * reach + size, 2 * reach:2 * reach + size]

    def paint(self, shape: _Shape) -> None:
        """Turn on the sub-pixels of `shape`."""
        height, width = shape.mask.shape
        row, col = shape.row * SUPERSAMPLE, shape.col * SUPERSAMPLE
        self.strokes[row:row + height, col:col + width] |= shape.mask

    def render(self) -> np.ndarray:
        """The image: uint8 `[R, R]`, each pixel `round(255 * the fraction of its sub-pixels that are on)`."""
        size = self.resolution
        covered = self.strokes.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).sum(axis=(1, 3))
        return np.rint(covered * (255 / SUPERSAMPLE ** 2)).astype(np.uint8)


@dataclass(frozen=True)
class _Shape:
    """A rasterised capsule: sub-pixel `mask` bool `[h * S, w * S]` and pixel `footprint` bool `[h, w]` (the pixels
    with a sub-pixel on), both starting at pixel `(row, col)`."""

    row: int
    col: int
    mask: np.ndarray
    footprint: np.ndarray


def _dilate(mask: np.ndarray, reach: int) -> np.ndarray:
    """`mask` bool `[h, w]` grown by `reach` pixels in every direction (8-neighbourhood): bool `[h + 2r, w + 2r]`,
    its pixel `(i, j)` on when some pixel of `mask` lies within Chebyshev distance `reach` of `(i - r, j - r)`."""
    height, width = mask.shape
    rows = np.zeros((height + 2 * reach, width), bool)
    for step in range(2 * reach + 1):
        rows[step:step + height] |= mask
    grown = np.zeros((height + 2 * reach, width + 2 * reach), bool)
    for step in range(2 * reach + 1):
        grown[:, step:step + width] |= rows
    return grown


def _capsule(start: Point, end: Point, radius: float, resolution: int) -> _Shape:
    """The sub-pixels whose centres lie within `radius` of the segment `start`-`end` (a disc when they are equal)."""
    (y0, x0), (y1, x1) = start.tolist(), end.tolist()
    top, left = (min(max(math.floor(min(a, b) - radius), 0), resolution - 1) for a, b in ((y0, y1), (x0, x1)))
    bottom, right = (min(max(math.floor(max(a, b) + radius), 0), resolution - 1) + 1 for a, b in ((y0, y1), (x0, x1)))
    ys = (np.arange(top * SUPERSAMPLE, bottom * SUPERSAMPLE) + 0.5)[:, None] / SUPERSAMPLE - y0
    xs = (np.arange(left * SUPERSAMPLE, right * SUPERSAMPLE) + 0.5)[None, :] / SUPERSAMPLE - x0
    dy, dx = y1 - y0, x1 - x0
    squared = dy * dy + dx * dx
    along = np.clip((ys * dy + xs * dx) / squared, 0.0, 1.0) if squared > 0 else 0.0
    mask = (ys - along * dy) ** 2 + (xs - along * dx) ** 2 <= radius * radius
    footprint = mask.reshape(bottom - top, SUPERSAMPLE, right - left, SUPERSAMPLE).any(axis=(1, 3))
    return _Shape(top, left, mask, footprint)


def _turn(rng: np.random.Generator, max_turn: float) -> float:
    """A turning angle in radians, density proportional to `cos(pi/2 * turn / max_turn) ** 2` (by rejection)."""
    while True:
        fraction = rng.uniform(-1.0, 1.0)
        if rng.random() < math.cos(math.pi / 2 * fraction) ** 2:
            return math.radians(max_turn) * fraction


def _step(angle: float, length: float) -> Point:
    return length * np.array([math.sin(angle), math.cos(angle)])


class _Drawing:
    """Contours drawn one paddle at a time onto a `_Canvas` under the rules of the module docstring."""

    def __init__(self, spec: PathfinderSpec, rng: np.random.Generator) -> None:
        self.spec, self.rng = spec, rng
        self.canvas = _Canvas(spec.resolution, spec.clearance)
        self.border = spec.border

    def inside(self, point: Point) -> bool:
        low, high = self.border, self.spec.resolution - self.border
        return all(low <= value <= high for value in point.tolist())

    def random_point(self, margin: float) -> Point:
        """A uniform point at least `margin` from the edges."""
        return self.rng.uniform(margin, self.spec.resolution - margin, size=2)

    def reserve_marker(self, point: Point, contour: int, index: int) -> bool:
        """Claim a marker disc at `point` (not painted); False when it would come near another contour."""
        disc = _capsule(point, point, self.spec.marker_radius, self.spec.resolution)
        if not self.canvas.fits(disc, contour, index):
            return False
        self.canvas.claim(disc, contour, index)
        return True

    def show_marker(self, point: Point) -> None:
        self.canvas.paint(_capsule(point, point, self.spec.marker_radius, self.spec.resolution))

    def extend(self, vertices: list[Point], heading: float | None, contour: int) -> float | None:
        """Add a paddle at the end of `vertices` turning from `heading` (None: any direction); its heading, or None
        when `PADDLE_TRIES` tries failed."""
        spec, head, index = self.spec, vertices[-1], len(vertices) - 1
        for _ in range(PADDLE_TRIES):
            angle = self.rng.uniform(0, 2 * math.pi) if heading is None else heading + _turn(self.rng, spec.max_turn)
            end = head + _step(angle, spec.paddle_length)
            if not self.inside(end):
                continue
            paddle = _capsule(head, end, spec.thickness / 2, spec.resolution)
            if self.canvas.fits(paddle, contour, index):
                self.canvas.claim(paddle, contour, index)
                self.canvas.paint(paddle)
                vertices.append(end)
                return angle
        return None

    def free_point(self) -> Point | None:
        """A uniform point of a pixel drawn uniformly among those farther than `clearance` from every contour (the
        part of it at least `border` from the edges), or None when no pixel is free."""
        low, high = self.border, self.spec.resolution - self.border
        band = np.arange(self.spec.resolution)
        band = (band < high) & (band + 1 > low)
        rows, cols = np.nonzero(self.canvas.free_pixels() & band[:, None] & band[None, :])
        if not len(rows):
            return None
        pick = self.rng.integers(len(rows))
        return np.array([self.rng.uniform(max(pixel, low), min(pixel + 1, high)) for pixel in (rows[pick], cols[pick])])

    def grow(self, vertices: list[Point], contour: int, paddles: int, mark_end: bool, dead_ends: int) -> bool:
        """Extend the new contour `vertices` (its first point) by `paddles` paddles, and reserve a marker at its end
        when `mark_end`. A dead end takes back the last `BACKTRACK` paddles; at the `dead_ends`-th the canvas is
        restored as it was and False returned."""
        headings: list[float | None] = [None]
        saved = [self.canvas.snapshot()]  # saved[i]: the canvas holding the first i paddles
        for _ in range(dead_ends):
            while len(vertices) <= paddles:
                heading = self.extend(vertices, headings[-1], contour)
                if heading is None:
                    break
                headings.append(heading)
                saved.append(self.canvas.snapshot())
            else:
                if not mark_end or self.reserve_marker(vertices[-1], contour, paddles):
                    return True
            keep = max(1, len(vertices) - BACKTRACK)
            del vertices[keep:], headings[keep:], saved[keep:]
            self.canvas.restore(saved[-1])
        self.canvas.restore(saved[0])
        return False

    def targets(self) -> list[list[Point]] | None:
        """The two target contours, their first points `seed_distance` apart, markers reserved at their four ends."""
        spec = self.spec
        first = self.random_point(self.border + spec.seed_distance)
        contours = [[first], [first + _step(self.rng.uniform(0, 2 * math.pi), spec.seed_distance)]]
        for contour, vertices in enumerate(contours):
            if not self.reserve_marker(vertices[0], contour, 0):
                return None
        for contour, vertices in enumerate(contours):
            if not self.grow(vertices, contour, spec.contour_length, mark_end=True, dead_ends=TARGET_DEAD_ENDS):
                return None
        return contours

    def distractors(self) -> list[list[Point]] | None:
        """Every distractor contour, or None as soon as one finds no place."""
        placed = []
        for contour in range(2, self.spec.num_contours):
            vertices = self.distractor(contour)
            if vertices is None:
                return None
            placed.append(vertices)
        return placed

    def distractor(self, contour: int) -> list[Point] | None:
        """One distractor contour from a free start, or None when `DISTRACTOR_TRIES` starts failed."""
        for _ in range(DISTRACTOR_TRIES):
            start = self.free_point()
            if start is None:
                return None
            vertices = [start]
            if self.grow(vertices, contour, self.spec.distractor_length, mark_end=False,
                         dead_ends=DISTRACTOR_DEAD_ENDS):
                return vertices
        return None


def draw_sample(spec: PathfinderSpec, label: int, rng: np.random.Generator) -> Sample:
    """Draw one sample of `label` (0 or 1) from `rng`; raises `RuntimeError` when `spec` leaves no room for its
    contours (`MAX_ATTEMPTS` drawings failed)."""
    if label not in (0, 1):
        raise ValueError(f"a Pathfinder label is 0 or 1, got {label}")
    rejected = 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        drawing = _Drawing(spec, rng)
        targets = drawing.targets()
        distractors = None if targets is None else drawing.distractors()
        if distractors is None:
            continue
        marked = int(rng.integers(2))
        targets = [targets[marked], targets[1 - marked]]
        ends = (targets[0][0], targets[1 - label][-1])
        for end in ends:
            drawing.show_marker(end)
        image = drawing.canvas.render()
        markers = tuple((int(point[0]), int(point[1])) for point in ends)
        components, count = stroke_components(image)
        connected = components[markers[0]] == components[markers[1]] != 0
        if count == spec.num_contours and connected == bool(label):
            contours = tuple(np.array(vertices) for vertices in (*targets, *distractors))
            return Sample(image, label, markers, contours, attempt, rejected)
        rejected += 1
    raise RuntimeError(f"no Pathfinder sample fits {spec} in {MAX_ATTEMPTS} drawings; shorten the contours, "
                       "use fewer distractors or a higher resolution")


def stroke_components(image: np.ndarray, threshold: int = 0) -> tuple[np.ndarray, int]:
    """The 8-connected components of the pixels brighter than `threshold` in `image` `[H, W]`: an int32 map `[H, W]`
    (0 for background, components numbered from 1 in row-major order of their first pixel) and their count."""
    on = np.pad(np.asarray(image) > threshold, 1)
    width = on.shape[1]
    steps = (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1)
    lit = on.ravel().tolist()
    labels = [0] * len(lit)
    count = 0
    for start in np.flatnonzero(on).tolist():
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        stack = [start]
        while stack:
            here = stack.pop()
            for step in steps:
                there = here + step
                if lit[there] and not labels[there]:
                    labels[there] = count
                    stack.append(there)
    return np.array(labels, np.int32).reshape(on.shape)[1:-1, 1:-1], count


def markers_connected(image: np.ndarray, first: Pixel, second: Pixel, threshold: int = 0) -> bool:
    """Whether pixels `first` and `second` (`(row, col)`) of `image` `[H, W]` are both brighter than `threshold` and
    joined by a path of such pixels, stepping to any of the 8 neighbours: the Pathfinder question, answered."""
    components, _ = stroke_components(image, threshold)
    return bool(components[first] != 0 and components[first] == components[second])
