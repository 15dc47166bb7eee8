"""The `tv2tv` command: one module per family of verbs, `tv2tv fit` (LightningCLI), the bundles' checks.

Imports anything; nothing imports it.
"""
