"""The `tv2tv` command: its verbs, listed in the order a user meets them."""

from __future__ import annotations

import re

from tv2tv_world.cli import agents, data, models, playback
from tv2tv_world.cli.main import VERB_ORDER, build_parser


def test_help_lists_every_verb_once_in_pipeline_order():
    listed = re.findall(r"^    ([a-z][a-z-]+)(?: |$)", build_parser().format_help(), flags=re.MULTILINE)
    assert listed == list(VERB_ORDER)
    defined = {*data.VERBS, *models.VERBS, *agents.VERBS, *playback.VERBS, "fit"}
    assert defined == set(VERB_ORDER)  # a verb a family defines but the order leaves out would vanish from the CLI
    assert listed.index("collect") < listed.index("encode") < listed.index("fit") < listed.index("evaluate") < (
        listed.index("bundle")) < listed.index("play") < listed.index("agent")
