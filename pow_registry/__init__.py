"""pow_registry: reported captures, family inquiries and exchange lists for a human-rights NGO.

Importing the package pulls in nothing else, so `import pow_registry.domain` stays free of Flask;
`create_app` is loaded on first use (that is what `flask --app pow_registry` looks up).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pow_registry.app import create_app

        return create_app
    raise AttributeError(name)
