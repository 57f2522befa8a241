"""The one place a Redis client is made: a plain client for one Redis, a cluster client for a
Redis Cluster (REDIS_CLUSTER=true); and a plain client for one master of a cluster, which the
bus holds per shard for sharded pub/sub."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("wingman.redis")

RedisClient = Redis | RedisCluster

# What a per-shard subscriber connection takes over from the cluster client's node settings.
_SHARD_SETTINGS = ("username", "password", "credential_provider", "socket_connect_timeout",
                   "socket_timeout", "socket_keepalive", "encoding", "encoding_errors",
                   "decode_responses", "client_name")


class BoundedRedisCluster(RedisCluster):
    """A cluster client whose commands wait for one of `limit` turns: the cluster client fails a
    command when a node's pool is used up, where the plain client's blocking pool waits."""

    def __init__(self, *args: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = anyio.Semaphore(limit)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turns:
            return await super().execute_command(*args, **kwargs)


def connect_redis(url: str, cluster: bool, max_connections: int) -> RedisClient:
    """A client for REDIS_URL: with `cluster`, a Redis Cluster client starting from that node
    (it learns the others from it); otherwise a plain client with a blocking pool."""
    if cluster:
        # Pipelines (heartbeats) bypass the turns, so each node's pool has room beyond them.
        return BoundedRedisCluster.from_url(
            url, limit=max_connections, max_connections=max_connections + 16,
            socket_connect_timeout=2, socket_timeout=5, health_check_interval=10)
    # A blocking pool: a burst waits for a connection instead of failing as unavailable.
    return Redis(connection_pool=BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, socket_connect_timeout=2,
        socket_timeout=5, health_check_interval=10))


def shard_client(node: ClusterNode) -> Redis:
    """A plain client for one master of a cluster, with the cluster client's credentials and
    TLS settings: the connection a node holds there for its sharded subscriptions."""
    kwargs = {k: v for k, v in node.connection_kwargs.items()
              if k in _SHARD_SETTINGS or k.startswith("ssl")}
    # No quiet reconnect: a dropped connection must surface, so the bus resubscribes where the
    # slot is now and refills what it missed.
    return Redis(connection_pool=ConnectionPool(
        connection_class=node.connection_class, host=node.host, port=int(node.port),
        max_connections=2, health_check_interval=10, retry=Retry(NoBackoff(), 0), **kwargs))
