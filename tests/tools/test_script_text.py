"""Characters and random text of writing systems (ganstyle.tools.script_text)."""

import pytest

from ganstyle.errors import UserError
from ganstyle.tools import script_text


def test_culture_id_and_code_normalisation():
    assert script_text.culture_id("Old_Italic") == "old_italic"
    assert script_text.normalise_script_code("deva") == "Deva"
    assert script_text.script_inventory("Laoo").culture == "lao"


@pytest.mark.parametrize("code", ["Xxxx", "Latin", "Zyyy", "La"])
def test_unknown_script_code_is_a_user_error(code):
    with pytest.raises(UserError, match="ISO 15924"):
        script_text.normalise_script_code(code)


def test_inventories_follow_the_scripts():
    latin = script_text.script_inventory("Latn")
    assert set(latin.lowercase) == set("abcdefghijklmnopqrstuvwxyz")
    greek = script_text.script_inventory("Grek")
    assert greek.final_of["σ"] == "ς" and "ς" not in greek.lowercase
    assert "ά" in greek.variants["α"] and "ϐ" not in greek.letters  # symbol variant left out
    arabic = script_text.script_inventory("Arab")
    assert arabic.rtl and "\u064e" in arabic.marks and arabic.virama is None  # fatha
    deva = script_text.script_inventory("Deva")
    assert deva.virama == "\u094d" and "\u0915" in deva.bases and "\u0905" in deva.independents
    assert "\u093c" not in deva.marks  # nukta
    assert script_text.script_inventory("Thai").virama is None  # Pali-only phinthu
    assert not script_text.script_inventory("Thai").word_spaces and script_text.script_inventory("Deva").word_spaces
