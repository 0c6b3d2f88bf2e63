import numpy as np
import pytest

from ganstyle.metrics.geo import EARTH_RADIUS_KM, haversine_km, haversine_matrix


def vector_distance_km(lat1, lon1, lat2, lon2):
    """Great-circle distance from the angle between 3-D unit vectors (atan2 of cross and dot)."""

    def unit(lat, lon):
        lat, lon = np.radians(lat), np.radians(lon)
        return np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])

    a, b = unit(lat1, lon1), unit(lat2, lon2)
    return EARTH_RADIUS_KM * np.arctan2(np.linalg.norm(np.cross(a, b)), a @ b)


def test_known_distances():
    assert EARTH_RADIUS_KM == 6371.0088
    assert haversine_km(0, 0, 90, 0) == pytest.approx(np.pi / 2 * EARTH_RADIUS_KM, rel=1e-12)
    # antipodes: haversine loses half the digits there (~0.1 m), irrelevant for places
    assert haversine_km(10, 20, -10, -160) == pytest.approx(np.pi * EARTH_RADIUS_KM, abs=1e-3)
    assert haversine_km(48.8566, 2.3522, 48.8566, 2.3522) == 0.0
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(np.radians(1.0) * EARTH_RADIUS_KM, rel=1e-12)
    assert isinstance(haversine_km(1, 2, 3, 4), float)


def test_matches_vector_formula_and_broadcasts():
    rng = np.random.default_rng(0)
    lat1, lat2 = rng.uniform(-90, 90, 50), rng.uniform(-90, 90, 50)
    lon1, lon2 = rng.uniform(-180, 180, 50), rng.uniform(-180, 180, 50)
    expected = [vector_distance_km(*args) for args in zip(lat1, lon1, lat2, lon2)]
    np.testing.assert_allclose(haversine_km(lat1, lon1, lat2, lon2), expected, rtol=1e-9)
    assert haversine_km(lat1[:, None], lon1[:, None], lat2[None, :], lon2[None, :]).shape == (50, 50)


def test_matrix():
    lat, lon = [51.5074, 48.8566, -33.8688, np.nan], [-0.1278, 2.3522, 151.2093, 10.0]
    matrix = haversine_matrix(lat, lon)
    assert matrix.shape == (4, 4)
    np.testing.assert_array_equal(matrix[:3, :3], matrix[:3, :3].T)
    np.testing.assert_array_equal(np.diag(matrix)[:3], 0.0)
    assert matrix[0, 1] == pytest.approx(vector_distance_km(lat[0], lon[0], lat[1], lon[1]), rel=1e-9)
    assert 340 < matrix[0, 1] < 345  # London - Paris
    assert np.isnan(matrix[3]).all() and np.isnan(matrix[:, 3]).all()  # unknown place


def test_bad_coordinates():
    with pytest.raises(ValueError, match="latitude"):
        haversine_km(120, 0, 0, 0)
    with pytest.raises(ValueError, match="differ in length"):
        haversine_matrix([1, 2], [3])
