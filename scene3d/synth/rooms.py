"""Room recipes: what each room type holds and how it is arranged.

Each recipe furnishes a :class:`~scene3d.synth.layout.Layout` whose doors and
windows are already cut. Recipes lean on the relations language talks about:
things against walls, chairs around tables, nightstands beside beds, small
objects on tables / desks / shelves / counters, pictures and TVs on walls, and
several objects of one class (distractors).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scene3d.synth.layout import Layout, Placed

#: Room type -> ((min width, max width), (min depth, max depth)) in metres.
ROOM_SIZES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "bedroom": ((3.4, 4.6), (3.2, 4.2)),
    "living room": ((4.2, 6.0), (3.6, 5.0)),
    "kitchen": ((3.2, 4.6), (3.0, 4.0)),
    "office": ((3.6, 5.4), (3.2, 4.4)),
    "bathroom": ((2.4, 3.4), (2.2, 3.0)),
    "dining room": ((3.6, 5.0), (3.4, 4.6)),
}


def _some(lay: Layout, supporters: list[Placed], names: list[str], count: int) -> None:
    """Put ``count`` small objects (classes drawn from ``names``) on random supporters."""
    supporters = [s for s in supporters if s is not None]
    if not supporters:
        return
    for _ in range(count):
        sup = supporters[int(lay.rng.integers(len(supporters)))]
        lay.on(sup, str(lay.rng.choice(names)))


def _wall_decor(lay: Layout, names: list[str], count: int) -> None:
    for _ in range(count):
        lay.on_wall(str(lay.rng.choice(names)))


def bedroom(lay: Layout) -> None:
    rng = lay.rng
    bed = lay.against_wall("bed", margin=0.6) or lay.against_wall("bed")
    stands = []
    if bed is not None:
        for side in (-1, 1):
            if rng.random() < 0.85:
                stands.append(lay.beside(bed, "nightstand", side))
        for stand in stands:
            if stand is not None and rng.random() < 0.8:
                lay.on(stand, "lamp")
        lay.on_wall("picture", wall=bed.wall, along=bed.along, z_center=float(rng.uniform(1.45, 1.7)))
    storage = lay.against_wall(str(rng.choice(["wardrobe", "dresser"])))
    desk = lay.against_wall("desk") if rng.random() < 0.5 else None
    if desk is not None:
        lay.around(desk, "chair", 1)
    if rng.random() < 0.5:
        lay.free("rug")
    for name in ("plant", "trash can"):
        if rng.random() < 0.6:
            lay.against_wall(name)
    _some(lay, stands + [desk, storage if storage and storage.category.surfaces else None],
          ["book", "cup", "box", "vase"], int(rng.integers(2, 6)))
    _wall_decor(lay, ["picture", "clock", "mirror"], int(rng.integers(0, 3)))


def living_room(lay: Layout) -> None:
    rng = lay.rng
    sofa = lay.against_wall("sofa")
    stand = None
    if sofa is not None:
        opposite = (sofa.wall + 2) % 4
        stand = lay.against_wall("tv stand", wall=opposite)
        if stand is not None:
            lay.on(stand, "tv")
        elif rng.random() < 0.7:
            lay.on_wall("wall tv", wall=opposite, z_center=1.3)
        lay.on_wall("picture", wall=sofa.wall, along=sofa.along, z_center=float(rng.uniform(1.4, 1.7)))
        normal = np.array([np.cos(sofa.yaw), np.sin(sofa.yaw)])
        spot = sofa.position[:2] + normal * (sofa.hi[0] + 0.7)
        if lay.rng.random() < 0.5:
            lay.free("rug", center=(float(spot[0]), float(spot[1])), yaw=sofa.yaw)
        table = lay.free("coffee table", center=(float(spot[0]), float(spot[1])), yaw=sofa.yaw) or lay.free("coffee table")
    else:
        table = lay.free("coffee table")
    for _ in range(int(rng.integers(1, 3))):
        lay.free("armchair")
    shelves = [lay.against_wall("bookshelf") for _ in range(int(rng.integers(1, 3)))]
    lay.against_wall("floor lamp")
    for _ in range(int(rng.integers(1, 3))):
        lay.against_wall("plant")
    _some(lay, [table], ["cup", "bowl", "vase", "book"], int(rng.integers(2, 5)))
    _some(lay, shelves, ["book", "book", "vase", "box"], int(rng.integers(3, 9)))
    _some(lay, [stand], ["vase", "box", "book"], int(rng.integers(0, 2)))
    _wall_decor(lay, ["picture", "picture", "clock"], int(rng.integers(1, 3)))


def kitchen(lay: Layout) -> None:
    rng = lay.rng
    counters = []
    wall = int(rng.integers(4))
    for w in (wall, (wall + 1) % 4):
        counter = lay.against_wall("kitchen counter", wall=w)
        counters.append(counter)
        if counter is not None:
            for side in (-1, 1):
                if rng.random() < 0.5:
                    lay.beside(counter, str(rng.choice(["stove", "refrigerator", "kitchen counter"])), side)
    lay.against_wall("refrigerator")
    counters += [o for o in lay.objects if o.category.name == "kitchen counter" and o not in counters]
    _some(lay, counters, ["microwave"], 1)
    _some(lay, counters, ["cup", "bowl", "cup", "vase", "box"], int(rng.integers(3, 8)))
    if rng.random() < 0.7:
        table = lay.free("dining table")
        if table is not None:
            lay.around(table, "chair", int(rng.integers(2, 5)))
            _some(lay, [table], ["cup", "bowl", "vase"], int(rng.integers(1, 4)))
    else:
        for _ in range(int(rng.integers(2, 4))):
            lay.free("stool")
    lay.free("trash can")
    _wall_decor(lay, ["clock", "picture"], int(rng.integers(0, 2)))


def office(lay: Layout) -> None:
    rng = lay.rng
    desks = [lay.against_wall("desk") for _ in range(int(rng.integers(1, 4)))]
    for desk in desks:
        if desk is None:
            continue
        lay.around(desk, "office chair", 1)
        lay.on(desk, str(rng.choice(["monitor", "laptop"])))
        if rng.random() < 0.7:
            lay.on(desk, "keyboard")
    shelves = [lay.against_wall("bookshelf") for _ in range(int(rng.integers(1, 3)))]
    if rng.random() < 0.7:
        lay.against_wall("cabinet")
    lay.against_wall("plant")
    lay.free("trash can")
    if rng.random() < 0.5:
        lay.against_wall("floor lamp")
    _some(lay, desks, ["cup", "book", "lamp", "box"], int(rng.integers(2, 6)))
    _some(lay, shelves, ["book", "book", "box", "vase"], int(rng.integers(4, 10)))
    _wall_decor(lay, ["picture", "clock"], int(rng.integers(1, 3)))


def bathroom(lay: Layout) -> None:
    rng = lay.rng
    sink = lay.against_wall("sink")
    if sink is not None:
        lay.on_wall("mirror", wall=sink.wall, along=sink.along, z_center=float(rng.uniform(1.45, 1.65)))
    lay.against_wall("toilet")
    lay.against_wall("bathtub")
    if rng.random() < 0.6:
        lay.against_wall("cabinet")
    lay.free("trash can")
    for _ in range(int(rng.integers(1, 3))):
        lay.on_wall("towel", z_center=float(rng.uniform(1.0, 1.3)))
    if rng.random() < 0.4:
        lay.on_wall("picture")


def dining_room(lay: Layout) -> None:
    rng = lay.rng
    c = (lay.width / 2 + float(rng.uniform(-0.2, 0.2)), lay.depth / 2 + float(rng.uniform(-0.2, 0.2)))
    table = lay.free("dining table", center=c, yaw=float(rng.integers(2) * np.pi / 2)) or lay.free("dining table")
    if table is not None:
        lay.around(table, "chair", int(rng.integers(4, 7)))
        _some(lay, [table], ["bowl", "cup", "vase", "cup"], int(rng.integers(2, 6)))
    side = lay.against_wall(str(rng.choice(["cabinet", "dresser"])))
    _some(lay, [side], ["vase", "bowl", "box"], int(rng.integers(1, 3)))
    for _ in range(int(rng.integers(1, 3))):
        lay.against_wall("plant")
    if rng.random() < 0.6:
        lay.against_wall("floor lamp")
    _wall_decor(lay, ["picture", "picture", "clock", "mirror"], int(rng.integers(1, 4)))


RECIPES: dict[str, Callable[[Layout], None]] = {
    "bedroom": bedroom, "living room": living_room, "kitchen": kitchen,
    "office": office, "bathroom": bathroom, "dining room": dining_room,
}
