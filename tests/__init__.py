"""The template's own tests: bake it with every option and check the results."""
