import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scene3d.render import RenderInputError, SparseVoxelGrid
from scene3d.render.grid import COORD_MAX, COORD_MIN

coord = st.integers(-50, 50)


@settings(max_examples=30, deadline=None)
@given(
    occupied=st.sets(st.tuples(coord, coord, coord), min_size=1, max_size=60),
    queries=st.lists(st.tuples(coord, coord, coord), min_size=1, max_size=60),
)
def test_lookup_matches_python_dict(occupied, queries):
    occupied = list(occupied)
    grid = SparseVoxelGrid(torch.tensor(occupied, dtype=torch.int32), voxel_size=0.1)
    table = {c: m for m, c in enumerate(occupied)}
    got = grid.lookup(torch.tensor(queries + occupied))
    want = [table.get(q, -1) for q in queries + occupied]
    assert got.tolist() == want


def test_lookup_extreme_and_out_of_range():
    coords = torch.tensor([[COORD_MIN, COORD_MIN, COORD_MIN], [COORD_MAX, COORD_MAX, COORD_MAX], [0, 0, 0]])
    grid = SparseVoxelGrid(coords, voxel_size=1.0)
    q = torch.tensor([[COORD_MIN, COORD_MIN, COORD_MIN], [COORD_MAX, COORD_MAX, COORD_MAX], [COORD_MAX + 1, 0, 0], [0, 0, 0]])
    assert grid.lookup(q).tolist() == [0, 1, -1, 2]


@settings(max_examples=30, deadline=None)
@given(
    occupied=st.sets(st.tuples(coord, coord, coord), min_size=1, max_size=40),
    base=st.lists(st.tuples(coord, coord, coord), min_size=1, max_size=40),
    shift=st.sampled_from([0, COORD_MIN + 50, COORD_MAX - 50]),
)
def test_neighbour_lookup_equals_lookup(occupied, base, shift):
    grid = SparseVoxelGrid(torch.tensor(sorted(occupied)) + shift, voxel_size=1.0)
    offsets = torch.tensor([[0, 0, 0], [1, 0, 1], [0, 1, 0], [1, 1, 1]])
    b = torch.tensor(base) + shift
    want = grid.lookup(b[:, None, :] + offsets[None])
    assert grid.neighbour_lookup(b, offsets).tolist() == want.tolist()


def test_neighbour_lookup_at_the_range_limits():
    grid = SparseVoxelGrid(torch.tensor([[COORD_MIN, 0, 0], [COORD_MAX, 0, 0]]), voxel_size=1.0)
    offsets = torch.tensor([[0, 0, 0], [1, 0, 0]])
    b = torch.tensor([[COORD_MIN - 1, 0, 0], [COORD_MAX - 1, 0, 0], [COORD_MAX, 0, 0], [COORD_MIN - 5, 0, 0], [COORD_MAX + 9, 0, 0]])
    assert grid.neighbour_lookup(b, offsets).tolist() == [[-1, 0], [-1, 1], [1, -1], [-1, -1], [-1, -1]]


def test_voxel_of_and_aabb():
    grid = SparseVoxelGrid(torch.tensor([[0, 0, 0], [2, -1, 3]]), voxel_size=0.5, origin=torch.tensor([1.0, 1.0, 1.0]))
    pts = torch.tensor([[1.01, 1.2, 1.49], [2.2, 0.6, 2.9], [0.99, 1.2, 1.2], [2.0, 1.0, 1.0]])
    assert grid.voxel_of(pts).tolist() == [0, 1, -1, -1]
    torch.testing.assert_close(grid.aabb(), torch.tensor([[1.0, 0.5, 1.0], [2.5, 1.5, 3.0]]))


def test_grid_validation():
    with pytest.raises(RenderInputError, match="duplicate"):
        SparseVoxelGrid(torch.tensor([[0, 0, 0], [0, 0, 0]]), 0.1)
    with pytest.raises(RenderInputError, match="integer"):
        SparseVoxelGrid(torch.zeros(2, 3), 0.1)
    with pytest.raises(RenderInputError, match="voxel_size"):
        SparseVoxelGrid(torch.zeros(1, 3, dtype=torch.long), 0.0)
    with pytest.raises(RenderInputError, match="expected shape"):
        SparseVoxelGrid(torch.zeros(2, 4, dtype=torch.long), 0.1)
    with pytest.raises(RenderInputError, match=r"\[-1048575, 1048574\]"):
        SparseVoxelGrid(torch.tensor([[COORD_MAX + 1, 0, 0]]), 0.1)
    with pytest.raises(RenderInputError, match="at least one"):
        SparseVoxelGrid(torch.zeros(0, 3, dtype=torch.long), 0.1)
    with pytest.raises(RenderInputError, match="non-finite"):
        SparseVoxelGrid(torch.zeros(1, 3, dtype=torch.long), 0.1, origin=torch.tensor([0.0, float("nan"), 0.0]))


def test_grid_state_dict_round_trip():
    grid = SparseVoxelGrid(torch.tensor([[3, 1, 2], [0, 0, 0]]), 0.2)
    other = SparseVoxelGrid(torch.tensor([[9, 9, 9], [8, 8, 8]]), 0.2)
    other.load_state_dict(grid.state_dict())
    assert other.lookup(torch.tensor([[3, 1, 2], [9, 9, 9]])).tolist() == [0, -1]
