import numpy as np
import pytest

from worldclass.data import nomenclature as nm
from worldclass.errors import LabelError


def test_tables_have_official_sizes() -> None:
    assert len(nm.CLASSES43) == 43 and len(set(nm.CLC_CODES43)) == 43
    assert len(nm.CLASSES19) == 19
    assert len(nm.DROPPED43) == 11
    assert set(nm.DROPPED_CODES) == {122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 423}
    assert set(nm.MAP_43_TO_19.values()) - {None} == set(nm.CLASSES19)


@pytest.mark.parametrize(
    ("name", "parent"),
    [
        ("Annual crops associated with permanent crops", "Permanent crops"),  # CLC 241: a known trap
        ("Sparsely vegetated areas", "Natural grassland and sparsely vegetated areas"),
        ("Sclerophyllous vegetation", "Moors, heathland and sclerophyllous vegetation"),
        ("Salines", "Coastal wetlands"),
        ("Estuaries", "Marine waters"),
        ("Bare rock", None),
        ("Intertidal flats", None),
    ],
)
def test_43_to_19_mapping(name: str, parent: str | None) -> None:
    assert nm.MAP_43_TO_19[name] == parent


def test_names43_to_19_canonical_order_and_unknown() -> None:
    got = nm.names43_to_19(["Pastures", "Non-irrigated arable land", "Airports", "Continuous urban fabric"])
    assert got == ["Urban fabric", "Arable land", "Pastures"]
    with pytest.raises(LabelError, match="unknown CORINE"):
        nm.names43_to_19(["Pasturez"], source="x.json")


def test_multi_hot_and_matrix_agree() -> None:
    names43 = ["Rice fields", "Olive groves", "Peatbogs", "Port areas"]
    y43 = nm.multi_hot(names43, 43)
    y19 = np.clip(y43 @ nm.matrix_43_to_19(), 0, 1)
    assert np.array_equal(y19, nm.multi_hot(nm.names43_to_19(names43), 19))
    with pytest.raises(LabelError):
        nm.multi_hot(["nope"], 19)


def test_lexicographic_roundtrip() -> None:
    x = np.arange(19 * 2).reshape(2, 19)
    lex = nm.reorder_19(x)
    assert [nm.CLASSES19[i] for i in lex[0]] == sorted(nm.CLASSES19)
    assert np.array_equal(nm.reorder_19(lex, src="lexicographic", dst="original"), x)


def test_clc_lut_ignores_nodata_and_dropped() -> None:
    lut19, lut43 = nm.clc_lut(19), nm.clc_lut(43)
    assert lut19[0] == nm.IGNORE_INDEX and lut43[0] == nm.IGNORE_INDEX
    assert lut19[122] == nm.IGNORE_INDEX and lut43[122] == nm.CLASSES43.index(
        "Road and rail networks and associated land"
    )
    assert lut19[241] == nm.CLASSES19.index("Permanent crops")
    assert lut19[523] == 18 and lut19[111] == 0
    assert lut19[999] == nm.IGNORE_INDEX


def test_codes_to_names43() -> None:
    assert nm.codes_to_names43([0, 512, 211, 211, 999]) == ["Non-irrigated arable land", "Water bodies"]
