"""The Marathon app converter (mesos_hyper/deploy/marathon_app.py) and the examples: no VMs.

Expected values follow Marathon v1.3.14, src/test/scala/mesosphere/mesos/TaskBuilderTest.scala
(test names quoted in the comments) and the main sources named in marathon_app.py.
"""

from __future__ import annotations

import json

import pytest

from mesos_hyper.deploy.marathon_app import (
    InsufficientPortsError,
    UnsupportedAppError,
    java_double,
    joda_timestamp,
    marathon_task_id,
    task_info,
    task_name,
)
from mesos_hyper.model.messages import resources_from_pb
from mesos_hyper.proto import mesos_pb2
from tests.example_apps import DEMO_IMAGE, EXAMPLES, load_example, pod_task_infos

OFFER = [31000, 31001, 31002, 31003]
MARATHON_APPS = ["web-bridge.json", "host-net.json", "batch-fetch.json"]


def convert(app, offered=OFFER, **kw):
    return task_info(app, task_id="t.1", agent_host="agent-1", offered_ports=offered, **kw)


def docker_app(**extra):
    app = {"id": "/product/frontend", "cpus": 1.0, "mem": 64.0, "disk": 1.0}
    app["container"] = {"type": "DOCKER", "docker": {"image": DEMO_IMAGE}}
    app.update(extra)
    return app


def ports_of(info):
    (res,) = [r for r in info.resources if r.name == "ports"]
    return [(r.begin, r.end) for r in res.ranges.range]


# ---- the examples ---------------------------------------------------------------------


@pytest.mark.parametrize("name", MARATHON_APPS)
def test_every_example_converts_and_uses_the_demo_image(name):
    app = load_example(name)
    task = task_info(
        app,
        task_id=marathon_task_id(app["id"]),
        agent_host="agent-1",
        offered_ports=OFFER,
    )
    info = task.task_info
    assert info.IsInitialized()
    assert info.container.docker.image == DEMO_IMAGE
    assert task.env["MARATHON_APP_DOCKER_IMAGE"] == DEMO_IMAGE
    assert info.task_id.value.startswith(app["id"].strip("/").replace("/", "_") + ".")
    # what the ECP's parser makes of it: every resource the app asked for
    spec = resources_from_pb(info.resources)
    assert spec.cpus == app["cpus"] and spec.mem_mb == app["mem"] and spec.disk_mb == app["disk"]
    assert spec.port_numbers() == task.host_ports


def test_examples_directory_holds_what_the_readme_lists():
    names = sorted(p.name for p in EXAMPLES.glob("*.json"))
    assert names == sorted([*MARATHON_APPS, "pod-two-tasks.json"])
    readme = (EXAMPLES / "README.md").read_text()
    for name in names:
        assert name in readme


def test_web_bridge_example():
    task = convert(load_example("web-bridge.json"))
    info = task.task_info
    assert info.name == "web-bridge.examples"
    docker = info.container.docker
    assert docker.network == mesos_pb2.ContainerInfo.DockerInfo.BRIDGE
    assert [(m.host_port, m.container_port, m.protocol) for m in docker.port_mappings] == [
        (31000, 8080, "tcp")
    ]
    assert ports_of(info) == [(31000, 31000)]
    env = task.env
    assert env["PORT0"] == env["PORT"] == env["PORT_8080"] == env["PORT_HTTP"] == "31000"
    assert env["PORTS"] == "31000" and env["HOST"] == "agent-1"
    assert env["MARATHON_APP_RESOURCE_CPUS"] == "0.5"
    assert env["MARATHON_APP_RESOURCE_MEM"] == env["MARATHON_APP_RESOURCE_DISK"] == "64.0"
    # the COMMAND check goes to Mesos; HealthCheck.toMesos (v1.3.14) sets delay 0
    hc = info.health_check
    assert hc.command.value == "wget -q -O /dev/null http://127.0.0.1:8080/"
    assert not hc.command.HasField("shell") and hc.command.shell
    assert (hc.delay_seconds, hc.interval_seconds, hc.timeout_seconds) == (0, 10, 5)
    assert (hc.consecutive_failures, hc.grace_period_seconds) == (3, 120)
    assert not hc.HasField("http")
    # the HTTP check stays with Marathon, against the agent's host port
    (check,) = task.marathon_checks
    assert check["protocol"] == "HTTP" and check["url"] == "http://agent-1:31000/"
    assert info.kill_policy.grace_period.nanoseconds == 5_000_000_000
    assert [(p.number, p.name, p.protocol) for p in info.discovery.ports.ports] == [
        (31000, "http", "tcp")
    ]


def test_host_net_example():
    task = convert(load_example("host-net.json"))
    info = task.task_info
    assert info.container.docker.network == mesos_pb2.ContainerInfo.DockerInfo.HOST
    assert not info.container.docker.port_mappings
    assert task.host_ports == [31000, 31001] and ports_of(info) == [(31000, 31001)]
    env = task.env
    assert (env["PORT0"], env["PORT1"], env["PORTS"]) == ("31000", "31001", "31000,31001")
    assert (env["PORT_HTTP"], env["PORT_ADMIN"]) == ("31000", "31001")
    # dynamic service ports became 10000 and 10001 (GroupManagerActor), hence PORT_<service>
    assert (env["PORT_10000"], env["PORT_10001"]) == ("31000", "31001")
    (check,) = task.marathon_checks
    assert (check["protocol"], check["host"], check["port"]) == ("TCP", "agent-1", 31001)
    assert not info.HasField("health_check")


def test_batch_fetch_example():
    task = convert(load_example("batch-fetch.json"))
    info = task.task_info
    assert not [r for r in info.resources if r.name == "ports"]
    assert "PORT0" not in task.env and "PORTS" not in task.env
    assert task.env["GREETING"] == "hello"
    uris = [(u.value, u.extract, u.executable, u.cache) for u in info.command.uris]
    assert uris == [
        ("http://127.0.0.1:8000/bundle.tar.gz", True, False, False),
        ("http://127.0.0.1:8000/tool.sh", False, True, False),
    ]
    assert info.discovery.HasField("ports") and not info.discovery.ports.ports


def test_pod_example_is_two_tasks_of_one_executor():
    doc = json.loads((EXAMPLES / "pod-two-tasks.json").read_text())
    web, client = pod_task_infos(doc, agent_id="S1")
    assert web.executor == client.executor
    assert web.executor.container.docker.image == DEMO_IMAGE
    assert web.slave_id.value == "S1"
    # a real 1.0 master refuses a task with both an executor and a command: each task runs
    # its own image's Cmd, and the file says how to build those images
    assert not web.HasField("command") and not client.HasField("command")
    images = doc["images"]
    assert "httpd -f -p 8080" in images[web.container.docker.image]["cmd"]
    assert "http://127.0.0.1:8080/" in images[client.container.docker.image]["cmd"]


# ---- commands (TaskBuilder.commandInfo) -----------------------------------------------


def test_cmd_is_a_shell_command():
    # assertTaskInfo in TaskBuilderTest: shell, value "foo", no arguments
    command = convert({"id": "/a", "cmd": "foo"}).task_info.command
    assert command.shell and command.value == "foo" and not command.arguments
    assert not command.HasField("shell")


def test_args_with_docker_run_the_image_entrypoint():
    command = convert(docker_app(args=["-p", "80"])).task_info.command
    assert command.HasField("shell") and not command.shell
    assert not command.HasField("value") and list(command.arguments) == ["-p", "80"]


def test_args_without_container_put_argv0_in_value():
    # "BuildIfMatchesWithArgs": the command executor needs a value
    command = convert({"id": "/a", "args": ["a", "b", "c"]}).task_info.command
    assert not command.shell and command.value == "a"
    assert list(command.arguments) == ["a", "b", "c"]


def test_docker_without_cmd_or_args_keeps_the_image_default():
    command = convert(docker_app()).task_info.command
    assert command.HasField("shell") and not command.shell and not command.HasField("value")


def test_user_goes_to_the_command():
    assert convert(docker_app(user="app")).task_info.command.user == "app"


# ---- resources and ports ----------------------------------------------------------------


def test_resources_are_cpus_mem_disk_then_ports():
    # "build creates task with appropriate resource share"
    info = convert(
        {
            "id": "/a",
            "cmd": "foo",
            "cpus": 1,
            "mem": 64,
            "disk": 1,
            "portDefinitions": [{"port": 8080}, {"port": 8081}],
        }
    ).task_info
    assert [r.name for r in info.resources] == ["cpus", "mem", "disk", "ports"]
    assert [r.scalar.value for r in info.resources[:3]] == [1.0, 64.0, 1.0]
    assert all(r.role == "*" for r in info.resources)
    assert ports_of(info) == [(31000, 31001)]


def test_zero_disk_is_left_out_and_defaults_apply():
    # "build does set disk resource to zero in TaskInfo" (#1583); defaults cpus 1, mem 128
    task = convert({"id": "/a", "cmd": "foo"})
    info = task.task_info
    assert [(r.name, r.scalar.value) for r in info.resources[:2]] == [("cpus", 1.0), ("mem", 128.0)]
    assert "disk" not in [r.name for r in info.resources]
    # one dynamic port by default (AppDefinition.DefaultPortDefinitions)
    assert task.host_ports == [31000] and task.env["PORT_10000"] == "31000"
    env = task.env
    assert env["MARATHON_APP_RESOURCE_DISK"] == "0.0" and env["MARATHON_APP_RESOURCE_GPUS"] == "0"


def test_ports_ranges_join_consecutive_ports_in_order():
    task = convert({"id": "/a", "cmd": "x", "ports": [0, 0, 0]}, offered=[31005, 31000, 31001])
    assert task.host_ports == [31005, 31000, 31001]
    assert ports_of(task.task_info) == [(31005, 31005), (31000, 31001)]


def test_require_ports_uses_the_declared_ports():
    # "build with requirePorts preserves the port order"
    task = convert(
        {"id": "/a", "cmd": "x", "ports": [25552, 25551], "requirePorts": True},
        offered=range(25000, 26001),
    )
    assert task.host_ports == [25552, 25551]
    assert task.env["PORT_25552"] == "25552"
    with pytest.raises(InsufficientPortsError):
        convert({"id": "/a", "cmd": "x", "ports": [80], "requirePorts": True})


def test_not_enough_ports_is_a_declined_offer():
    # "BuildIfMatches without port match"
    with pytest.raises(InsufficientPortsError):
        convert({"id": "/a", "cmd": "x", "ports": [8080, 8081]}, offered=[31000])


def bridge(*mappings, **extra):
    app = docker_app(**extra)
    app["container"]["docker"].update(network="BRIDGE", portMappings=list(mappings))
    return app


def test_container_port_zero_means_the_host_port():
    # "PortMappingsWithZeroContainerPort"
    task = convert(bridge({"containerPort": 0, "hostPort": 0, "servicePort": 9000}))
    (mapping,) = task.task_info.container.docker.port_mappings
    assert mapping.host_port == mapping.container_port == 31000
    assert task.env["PORT_31000"] == "31000"


def test_missing_host_port_in_bridge_is_dynamic_and_static_ones_are_kept():
    task = convert(bridge({"containerPort": 80}, {"containerPort": 81, "hostPort": 31000}))
    assert task.host_ports == [31001, 31000]
    with pytest.raises(InsufficientPortsError):
        convert(bridge({"containerPort": 80, "hostPort": 5}))


def test_udp_tcp_mapping_becomes_two_mappings_and_one_discovery_port():
    # PortMappingSerializer.toMesos splits; toMesosPort keeps "udp,tcp"
    task = convert(
        bridge({"containerPort": 53, "protocol": "udp,tcp", "name": "dns", "labels": {"VIP": "x"}})
    )
    docker = task.task_info.container.docker
    assert [(m.host_port, m.container_port, m.protocol) for m in docker.port_mappings] == [
        (31000, 53, "udp"),
        (31000, 53, "tcp"),
    ]
    (port,) = task.task_info.discovery.ports.ports
    assert (port.number, port.name, port.protocol) == (31000, "dns", "udp,tcp")
    assert [(lb.key, lb.value) for lb in port.labels.labels] == [
        ("VIP", "x"),
        ("network-scope", "host"),
    ]


def test_port_definitions_with_udp_tcp_give_two_discovery_ports():
    # "BuildIfMatches with port on tcp and udp"
    task = convert(
        {
            "id": "/product/frontend",
            "cmd": "foo",
            "portDefinitions": [
                {
                    "port": 8080,
                    "protocol": "udp,tcp",
                    "name": "http",
                    "labels": {"VIP": "127.0.0.1:8080"},
                },
                {
                    "port": 8081,
                    "protocol": "udp",
                    "name": "admin",
                    "labels": {"VIP": "127.0.0.1:8081"},
                },
            ],
        }
    )
    ports = [(p.name, p.protocol, p.number) for p in task.task_info.discovery.ports.ports]
    assert ports == [("http", "udp", 31000), ("http", "tcp", 31000), ("admin", "udp", 31001)]
    assert task.task_info.discovery.name == "frontend.product"
    assert task.task_info.discovery.visibility == mesos_pb2.DiscoveryInfo.FRAMEWORK


def test_mappings_outside_bridge_mode_are_dropped():
    # Container.Docker.withDefaultPortMappings: HOST mode keeps no port mappings
    app = docker_app()
    app["container"]["docker"].update(network="HOST", portMappings=[{"containerPort": 80}])
    task = convert(app)
    assert not task.task_info.container.docker.port_mappings
    assert task.host_ports == [31000]


# ---- environment (TaskBuilder.taskContextEnv / portsEnv) --------------------------------


def test_task_context_env_all_fields():
    # "TaskContextEnv all fields" (gpus left out: mesos-hyper refuses them)
    app = docker_app(
        id="/app",
        cpus=10.0,
        mem=256.0,
        disk=128.0,
        labels={"LABEL1": "VALUE1", "LABEL2": "VALUE2"},
        portDefinitions=[],
    )
    app["container"]["docker"]["image"] = "myregistry/myimage:version"
    env = convert(app, version="2015-02-03T12:30:00Z").env
    assert env == {
        "MESOS_TASK_ID": "t.1",
        "MARATHON_APP_ID": "/app",
        "MARATHON_APP_VERSION": "2015-02-03T12:30:00.000Z",
        "MARATHON_APP_DOCKER_IMAGE": "myregistry/myimage:version",
        "MARATHON_APP_RESOURCE_CPUS": "10.0",
        "MARATHON_APP_RESOURCE_MEM": "256.0",
        "MARATHON_APP_RESOURCE_DISK": "128.0",
        "MARATHON_APP_RESOURCE_GPUS": "0",
        "MARATHON_APP_LABELS": "LABEL1 LABEL2",
        "MARATHON_APP_LABEL_LABEL1": "VALUE1",
        "MARATHON_APP_LABEL_LABEL2": "VALUE2",
        "HOST": "agent-1",
    }


def test_label_env_is_escaped_and_bounded():
    # "TaskContextEnv will provide label env safety"
    labels = {
        "label": "VALUE1",
        "label-with-invalid-chars": "VALUE2",
        "other--label\\--\\a": "VALUE3",
        "x" * 600: "v",
        "label-long": "v" * 600,
    }
    env = convert({"id": "/a", "cmd": "x", "labels": labels}).env
    assert env["MARATHON_APP_LABELS"].split() == [
        "LABEL",
        "LABEL_WITH_INVALID_CHARS",
        "OTHER_LABEL_A",
    ]
    assert env["MARATHON_APP_LABEL_OTHER_LABEL_A"] == "VALUE3"
    assert not [k for k in env if k.startswith("MARATHON_APP_LABEL_LABEL_LONG")]


def test_declared_ports_env_named():
    # "DeclaredPortsEnvNamed": declared (service) ports name PORT_<n>, host ports are offered
    task = convert(
        {
            "id": "/a",
            "cmd": "x",
            "portDefinitions": [
                {"port": 80, "name": "http"},
                {"port": 8080},
                {"port": 443, "name": "https"},
            ],
        },
        offered=[1001, 1002, 1003],
    )
    env = task.env
    assert (env["PORT"], env["PORT0"], env["PORT1"], env["PORT2"]) == (
        "1001",
        "1001",
        "1002",
        "1003",
    )
    assert (env["PORT_80"], env["PORT_8080"], env["PORT_443"]) == ("1001", "1002", "1003")
    assert (env["PORT_HTTP"], env["PORT_HTTPS"]) == ("1001", "1003")


def test_user_env_overrides_port_variables():
    # "user defined variables override automatic port variables" (marathon#905)
    env = convert(
        {
            "id": "/test",
            "cmd": "x",
            "ports": [8080, 8081],
            "env": {"PORT": "1", "PORTS": "ports", "PORT_8080": "port8080"},
        }
    ).env
    assert (env["PORT"], env["PORTS"], env["PORT_8080"]) == ("1", "ports", "port8080")
    assert env["PORT1"] == "31001"


def test_env_vars_prefix_applies_to_host_and_ports_only():
    # "PortsEnvWithCustomPrefix"
    env = convert(
        {"id": "/a", "cmd": "x", "ports": [8080, 8081]}, env_vars_prefix="CUSTOM_PREFIX_"
    ).env
    assert env["CUSTOM_PREFIX_PORTS"] == "31000,31001" and env["CUSTOM_PREFIX_HOST"] == "agent-1"
    assert env["CUSTOM_PREFIX_PORT_8081"] == "31001"
    assert not {"HOST", "PORTS", "PORT0"} & env.keys() and "MESOS_TASK_ID" in env


def test_bridge_env_uses_container_ports_not_port_definitions():
    # "PortsEnvWithBothPortsAndMappings"
    app = bridge(
        {"containerPort": 8080, "name": "http"},
        {"containerPort": 8081},
        portDefinitions=[{"port": 22}, {"port": 23}],
    )
    env = convert(app).env
    assert (env["PORT_8080"], env["PORT_8081"], env["PORT_HTTP"]) == ("31000", "31001", "31000")
    assert "PORT_22" not in env and "PORT_23" not in env


# ---- fetch, health checks, container, misc ---------------------------------------------


def test_uris_extract_only_archives():
    # Formats: uris -> FetchUri(uri, extract = FetchUri.isExtract(uri))
    uris = convert(
        {"id": "/a", "cmd": "x", "uris": ["http://h/a.tgz", "http://h/b.sh"]}
    ).task_info.command.uris
    assert [(u.value, u.extract, u.executable, u.cache) for u in uris] == [
        ("http://h/a.tgz", True, False, False),
        ("http://h/b.sh", False, False, False),
    ]


def test_fetch_with_output_file_and_cache():
    # "TaskWillCopyFetchIntoCommand"
    uris = convert(
        {
            "id": "/a",
            "cmd": "x",
            "fetch": [
                {"uri": "http://www.example.com", "extract": False, "cache": True},
                {
                    "uri": "http://www.example2.com",
                    "cache": True,
                    "executable": True,
                    "outputFile": "o",
                },
            ],
        }
    ).task_info.command.uris
    assert [(u.extract, u.cache, u.executable) for u in uris] == [
        (False, True, False),
        (True, True, True),
    ]
    assert uris[1].output_file == "o" and not uris[0].HasField("output_file")


def test_health_check_defaults_and_only_one_command_check():
    task = convert(
        {
            "id": "/a",
            "cmd": "x",
            "healthChecks": [
                {"protocol": "COMMAND", "command": {"value": "true"}},
                {"protocol": "COMMAND", "command": {"value": "false"}},
                {"path": "/health"},
            ],
        }
    )
    hc = task.task_info.health_check
    assert hc.command.value == "true"
    assert (hc.grace_period_seconds, hc.interval_seconds, hc.timeout_seconds) == (300, 60, 20)
    assert hc.consecutive_failures == 3 and hc.delay_seconds == 0
    assert [c["command"]["value"] for c in task.dropped_checks] == ["false"]
    (http,) = task.marathon_checks  # protocol HTTP and portIndex 0 by default
    assert (http["protocol"], http["portIndex"], http["url"]) == (
        "HTTP",
        0,
        "http://agent-1:31000/health",
    )


def test_marathon_1_4_checks_and_bad_port_indexes_are_refused():
    with pytest.raises(UnsupportedAppError, match="MESOS_HTTP"):
        convert({"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "MESOS_HTTP"}]})
    with pytest.raises(UnsupportedAppError, match="portIndex 3"):
        convert({"id": "/a", "cmd": "x", "healthChecks": [{"portIndex": 3}]})


def test_docker_details_and_volumes():
    app = docker_app(
        container={
            "type": "DOCKER",
            "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}],
            "docker": {
                "image": DEMO_IMAGE,
                "privileged": True,
                "forcePullImage": True,
                "parameters": [{"key": "label", "value": "a=b"}],
            },
        }
    )
    container = convert(app).task_info.container
    docker = container.docker
    assert docker.privileged and docker.force_pull_image and not docker.HasField("network")
    assert [(p.key, p.value) for p in docker.parameters] == [("label", "a=b")]
    (volume,) = container.volumes
    assert (volume.container_path, volume.host_path, volume.mode) == (
        "/data",
        "/srv/data",
        mesos_pb2.Volume.RO,
    )


def test_mesos_container_with_a_docker_image():
    # "build creates task for MESOS Docker container": cached = !forcePullImage
    app = docker_app(
        container={"type": "MESOS", "docker": {"image": DEMO_IMAGE, "forcePullImage": True}}
    )
    task = convert(app)
    container = task.task_info.container
    assert container.type == mesos_pb2.ContainerInfo.MESOS and not container.HasField("docker")
    assert container.mesos.image.docker.name == DEMO_IMAGE and not container.mesos.image.cached
    assert "MARATHON_APP_DOCKER_IMAGE" not in task.env


def test_no_container_means_no_container_info():
    assert not convert({"id": "/a", "cmd": "x"}).task_info.HasField("container")


def test_labels_and_names():
    info = convert({"id": "/a/b/c", "cmd": "x", "labels": {"k": "v"}}).task_info
    assert info.name == "c.b.a" and task_name("/product/frontend") == "frontend.product"
    assert [(lb.key, lb.value) for lb in info.labels.labels] == [("k", "v")]
    assert not convert({"id": "/a", "cmd": "x"}).task_info.HasField("labels")
    assert marathon_task_id("/a/b", "u-1") == "a_b.u-1"


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"ipAddress": {"networkName": "n"}}, "IP-per-task"),
        ({"residency": {"taskLostBehavior": "WAIT_FOREVER"}}, "resident"),
        ({"gpus": 1}, "GPU"),
        ({"executor": "/opt/exec"}, "custom executor"),
        ({"args": ["a"]}, "cmd or args"),
        ({"env": {"S": {"secret": "s1"}}}, "secret"),
        ({"uris": ["a"], "fetch": [{"uri": "b"}]}, "uris and fetch"),
        (
            {
                "container": {
                    "volumes": [{"containerPath": "d", "persistent": {"size": 1}}],
                    "docker": {"image": "i"},
                }
            },
            "persistent",
        ),
        ({"container": {"docker": {"image": "i", "network": "USER"}}}, "USER"),
        ({"container": {"type": "MESOS", "appc": {"image": "i"}}}, "AppC"),
        ({"containers": [{"name": "c"}]}, "pod"),
    ],
)
def test_unsupported_fields_are_refused_clearly(extra, match):
    with pytest.raises(UnsupportedAppError, match=match):
        convert({"id": "/a", "cmd": "x", **extra})


def test_number_and_time_formats():
    assert [java_double(v) for v in (0.5, 64, 0, 1e7, 0.0001)] == [
        "0.5",
        "64.0",
        "0.0",
        "1.0E7",
        "1.0E-4",
    ]
    assert joda_timestamp("2016-10-05T12:00:00.123456+02:00") == "2016-10-05T10:00:00.123Z"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"healthcheck": []}, "unknown field 'healthcheck' \\(did you mean 'healthChecks'\\?\\)"),
        ({"memory": 64}, "unknown field 'memory' \\(did you mean 'mem'\\?\\)"),
        (
            {"container": {"docker": {"image": "i", "portMapings": []}}},
            "'container.docker.portMapings' \\(did you mean 'portMappings'\\?\\)",
        ),
        (
            {"healthChecks": [{"protocol": "TCP"}, {"protocol": "TCP", "intervalSecs": 3}]},
            "'healthChecks\\[1\\].intervalSecs' \\(did you mean 'intervalSeconds'\\?\\)",
        ),
        ({"zzz": 1}, "unknown field 'zzz'$"),
    ],
)
def test_an_unknown_field_is_refused_with_the_close_name(extra, match):
    with pytest.raises(UnsupportedAppError, match=match):
        convert({"id": "/a", "cmd": "x", **extra})


def test_what_get_v2_apps_returns_deploys_as_it_is():
    app = docker_app(tasksRunning=2, deployments=[], versionInfo={"lastScalingAt": "x"})
    app["tasks"] = [{"id": "old"}]
    assert convert(app).task_info.name == "frontend.product"
