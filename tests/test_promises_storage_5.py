"""Storage promises at their edges (issue 29, round 8, seed-81 survivors).

* a ``redis+cluster://user:password@...`` URI authenticates as that ACL user on every node (the
  cluster client takes no URI: the user must be handed over, not only the password).

Slow: a real 3-node Redis Cluster (the fixture of tests/test_storage.py).
"""

from __future__ import annotations

import pytest
import redis
from langchain.agents import create_agent

from guardrails import RateLimitMiddleware
from guardrails.errors import RateLimitExceededError
from guardrails.testing import ScriptedChatModel
from tests.conftest import RedisServer
from tests.test_storage import cluster  # noqa: F401  (the fixture)


@pytest.mark.slow
@pytest.mark.redis
def test_a_cluster_uri_with_an_acl_user_authenticates_as_that_user(
    cluster: list[RedisServer],  # noqa: F811
) -> None:
    for node in cluster:
        admin = redis.Redis(port=node.port)
        admin.execute_command("ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all")
        admin.execute_command("ACL", "SETUSER", "default", "off")  # no way in without the user
    hosts = f"127.0.0.1:{cluster[0].port},127.0.0.1:{cluster[1].port}"
    uri = f"redis+cluster://app:s3cret@{hosts}"
    agent = create_agent(
        ScriptedChatModel(responses=[], default="hi"),
        middleware=[RateLimitMiddleware("2/minute", key="global", storage=uri)],
    )
    for _ in range(2):
        assert agent.invoke({"messages": [("user", "x")]})["messages"][-1].content == "hi"
    with pytest.raises(RateLimitExceededError):  # the count lives on the cluster, as app
        agent.invoke({"messages": [("user", "x")]})
    for node in cluster:
        user = redis.Redis(port=node.port, username="app", password="s3cret")
        user.execute_command("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all")
