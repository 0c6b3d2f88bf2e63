"""Great-circle distances between places given in degrees of latitude and longitude.

The Earth is taken as a sphere of radius 6371.0088 km, the IUGG mean radius
R1 = (2a + b) / 3 of the WGS84 ellipsoid.  Spherical distances differ from
ellipsoidal (geodesic) ones by at most about 0.5 %, far below the uncertainty
of where a "culture" is located, and they are what Mantel tests against
geography conventionally use.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088


def _degrees(values, name: str, latitude: bool) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    # NaN (an unknown location) is allowed and propagates; impossible values are not.
    finite = array[np.isfinite(array)]
    if np.isinf(array).any():
        raise ValueError(f"{name}: infinite coordinate")
    if latitude and finite.size and np.abs(finite).max() > 90:
        raise ValueError(f"{name}: latitude outside [-90, 90] degrees (latitude and longitude swapped?)")
    if not latitude and finite.size and np.abs(finite).max() > 360:
        raise ValueError(f"{name}: longitude outside [-360, 360] degrees")
    return np.radians(array)


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray | float:
    """Great-circle distance in km between (lat1, lon1) and (lat2, lon2), in degrees.

    Arguments broadcast against each other like numpy arrays; scalars give a
    float.  A NaN coordinate gives a NaN distance (unknown location).  Accurate
    to better than a metre (worst near antipodal points, ~0.1 m).
    """
    phi1, phi2 = _degrees(lat1, "lat1", True), _degrees(lat2, "lat2", True)
    lam1, lam2 = _degrees(lon1, "lon1", False), _degrees(lon2, "lon2", False)
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2) ** 2
    a = np.clip(a, 0.0, 1.0)
    # atan2 rather than asin(sqrt(a)): accurate near antipodal points too.
    distance = 2.0 * radius_km * np.arctan2(np.sqrt(a), np.sqrt(1.0 - a))
    return float(distance) if np.ndim(distance) == 0 else distance


def haversine_matrix(lat, lon, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """(n, n) symmetric matrix of great-circle distances in km between n places.

    The diagonal is exactly 0 for known places; rows and columns of places
    with a NaN coordinate are NaN.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"lat and lon differ in length ({lat.size} vs {lon.size})")
    matrix = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :], radius_km=radius_km)
    matrix = np.asarray(matrix, dtype=np.float64).reshape(lat.size, lat.size)
    matrix = (matrix + matrix.T) / 2  # exact symmetry despite rounding
    known = np.isfinite(lat) & np.isfinite(lon)
    matrix[np.diag_indices_from(matrix)] = np.where(known, 0.0, np.nan)
    return matrix
