"""Check the answers before any file is written; a bad one stops generation with one sentence.

cookiecutter has already run these checks while it asked (local_extensions.refuse_bad_answers,
from cookiecutter.json); they run again here for contexts that skipped the questions, such as
a replay file edited by hand.
"""

import sys

sys.path.insert(0, {{ cookiecutter|template_dir|tojson }})
from local_extensions import find_problem  # noqa: E402

ANSWERS = {
    "project_name": {{ cookiecutter.project_name|tojson }},
    "project_slug": {{ cookiecutter.project_slug|tojson }},
    "description": {{ cookiecutter.description|tojson }},
    "database": {{ cookiecutter.database|tojson }},
    "cache": {{ cookiecutter.cache|tojson }},
    "first_key_name": {{ cookiecutter.first_key_name|tojson }},
    "set_up_environment": {{ cookiecutter.set_up_environment|tojson }},
    "from_djangorestframework_api_key": {{ cookiecutter.from_djangorestframework_api_key|tojson }},
}

if __name__ == "__main__":
    problem = find_problem(ANSWERS)
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        sys.exit(1)
