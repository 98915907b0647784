"""The model kinds, one module each: its networks (with the tensor shape after every layer),
its options (its own flags, with their defaults), its step (one iteration of its game) and its
RECIPE, which the training loop reads. `blocks` holds what several of them share.

Adding a model kind is adding a module here that defines RECIPE, and an examples/<name>.py
whose `main` calls `gan.training.cli.main(COMMANDS["<name>"], argv)`: every module here is
found and registered. A module whose command line trains one of several recipes (the SGAN's
--model book|improved) says so with COMMAND, a Variants; a recipe it names is reached only
through that command.
"""
import importlib
import pkgutil

from ..training.recipe import Variants

_modules = [importlib.import_module(f"{__name__}.{info.name}")
            for info in pkgutil.iter_modules(__path__) if info.name != "blocks"]

RECIPES = {module.RECIPE.name: module.RECIPE for module in _modules}  # every model, by name

_variants = [module.COMMAND for module in _modules if isinstance(getattr(module, "COMMAND", None), Variants)]
_reached_by_model = {recipe.name for command in _variants for recipe in command.choices.values()}
COMMANDS = {**{name: recipe for name, recipe in RECIPES.items() if name not in _reached_by_model},
            **{command.name: command for command in _variants}}  # what a command line trains, by name


def get_recipe(name):
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def build_networks(name, options=None):
    """(generator, discriminator) of a model, with its default options unless given."""
    recipe = get_recipe(name)
    if options is None and recipe.options is not None:
        options = recipe.options()
    return recipe.networks(options)
