"""The abkit dashboard: a multi-page Dash app that reads stored report snapshots.

Start it with ``abkit dashboard --db URL`` or build it with :func:`create_app`.
"""

from dashboards.app import create_app

__all__ = ["create_app"]
