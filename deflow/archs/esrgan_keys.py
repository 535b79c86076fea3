"""The key names of xinntao/ESRGAN's own RRDBNet checkpoints, renamed to BasicSR's (deflow/archs/rrdbnet.py), as
that repository's transer_RRDB_models.py and BasicSR's scripts/model_conversion do. Two layouts:

    2018, the first release (architecture.py; RRDB_ESRGAN_x4.pth as first published):
        model.0, model.1.sub.<i>.RDB<k>.conv<j>.0, model.1.sub.<num_block>, model.3, model.6, model.8, model.10
    2019, RRDBNet_arch.py (RRDB_ESRGAN_x4.pth, RRDB_PSNR_x4.pth as published since):
        conv_first, RRDB_trunk.<i>.RDB<k>.conv<j>, trunk_conv, upconv1, upconv2, HRconv, conv_last
"""
import re

# (legacy pattern, BasicSR replacement): the first that matches renames a key; BasicSR's own keys match none
_RENAMES = tuple((re.compile(pattern), replacement) for pattern, replacement in (
    (r"^model\.0\.", "conv_first."),
    (r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^model\.1\.sub\.\d+\.", "conv_body."),
    (r"^model\.3\.", "conv_up1."),
    (r"^model\.6\.", "conv_up2."),
    (r"^model\.8\.", "conv_hr."),
    (r"^model\.10\.", "conv_last."),
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv(\d)\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
))


def basicsr_key(key: str) -> str:
    """BasicSR's name of an RRDBNet state_dict key of either ESRGAN layout (a BasicSR key stays as it is)."""
    for pattern, replacement in _RENAMES:
        renamed, count = pattern.subn(replacement, key)
        if count:
            return renamed
    return key


def to_basicsr_keys(state: dict) -> dict:
    """An RRDBNet state_dict of any of the three layouts with BasicSR's keys."""
    return {basicsr_key(key): value for key, value in state.items()}
