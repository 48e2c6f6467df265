# A key needs a name, whatever path saves it: the database refuses an empty or blank one.

from django.db import migrations, models
from django.db.models.functions import Length, Trim
from django.db.models.lookups import GreaterThan


class Migration(migrations.Migration):
    dependencies = [("api_keys", "0001_initial")]

    operations = [
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=GreaterThan(Length(Trim("name")), 0),
                name="api_keys_apikey_has_a_name",
                violation_error_message="An API key needs a name, saying who or what uses it.",
            ),
        ),
    ]
