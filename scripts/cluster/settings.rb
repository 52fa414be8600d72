# frozen_string_literal: true

# What the test cluster's nodes are: names, addresses, sizes, box and accelerator, decided
# from the environment and the host. Plain Ruby without Vagrant, so that
# tests/cluster/test_settings.rb checks it (run by tests/test_cluster.py).
require "json"

module MesosHyperCluster
  NETWORK_PREFIX = "192.168.57"
  HOST_IP = "#{NETWORK_PREFIX}.1"
  MASTER_IP = "#{NETWORK_PREFIX}.10"
  FIRST_AGENT_HOST = 11
  MAX_AGENTS = 8
  LOCAL_BOX = "mesos-hyper/debian12"
  CLOUD_BOX = "debian/bookworm64"
  ACCEL_CACHE = "/var/lib/mesos-hyper/guest/accel.json"
  MESOS_PREFIX = "/opt/mesos-1.0.4"
  # what the host hands the nodes (scripts/cluster/prepare.sh makes them)
  ARTIFACTS = [".cluster/mesos-runtime.tar.gz", ".cluster/wheels"].freeze

  class ConfigError < StandardError; end

  Node = Struct.new(:name, :role, :ip, :cpus, :memory_mib, keyword_init: true)

  def self.whole_number(env, name, default, range)
    raw = env.fetch(name, default.to_s).strip
    unless raw.match?(/\A\d+\z/) && range.cover?(raw.to_i)
      raise ConfigError, "#{name}=#{raw.inspect}: expected a whole number from " \
                         "#{range.min} to #{range.max}"
    end
    raw.to_i
  end

  def self.agent_count(env)
    whole_number(env, "MESOS_HYPER_AGENTS", 2, 1..MAX_AGENTS)
  end

  # The master (ZooKeeper and mesos-master) and the agents, in the order they come up.
  def self.nodes(env)
    cpus = whole_number(env, "MESOS_HYPER_AGENT_CPUS", 2, 1..64)
    memory = whole_number(env, "MESOS_HYPER_AGENT_MEMORY_MIB", 3072, 1536..262_144)
    agents = (1..agent_count(env)).map do |i|
      Node.new(name: "agent#{i}", role: "agent", ip: "#{NETWORK_PREFIX}.#{FIRST_AGENT_HOST + i - 1}",
               cpus: cpus, memory_mib: memory)
    end
    [Node.new(name: "master", role: "master", ip: MASTER_IP, cpus: 1, memory_mib: 1536), *agents]
  end

  def self.zk_url
    "zk://#{MASTER_IP}:2181/mesos"
  end

  # What an agent offers: all but one CPU and 1 GiB of the node (its own daemons, the pool),
  # 10 GiB of disk, and Marathon's usual port range.
  def self.agent_resources(node)
    cpus = [node.cpus - 1, 1].max
    "cpus:#{cpus};mem:#{node.memory_mib - 1024};disk:10240;ports:[31000-32000]"
  end

  # The nodes' libvirt driver and CPU model. Where the host's own KVM works (mesos-hyper's
  # probe cached it), nodes run under KVM with the host's CPU, nested VMX/SVM included.
  # Where it does not, nodes run under TCG; libvirt's host-model CPU shows them AMD SVM,
  # and KVM on top of it works in the node (a guest booted in about 26 s, against 96 s
  # with nested TCG), which the node's own `host up` probe finds.
  def self.accelerator(env, accel_cache: ACCEL_CACHE, dev_kvm: "/dev/kvm")
    forced = env.fetch("MESOS_HYPER_CLUSTER_ACCEL", "").strip.downcase
    kind = forced.empty? ? probed_accelerator(accel_cache, dev_kvm) : forced
    case kind
    when "kvm" then { driver: "kvm", cpu_mode: "host-passthrough", nested: true }
    when "tcg", "qemu" then { driver: "qemu", cpu_mode: "host-model", nested: false }
    else
      raise ConfigError, "MESOS_HYPER_CLUSTER_ACCEL=#{forced.inspect}: expected kvm or tcg"
    end
  end

  def self.probed_accelerator(accel_cache, dev_kvm)
    return "tcg" unless File.exist?(dev_kvm)

    begin
      doc = JSON.parse(File.read(accel_cache))
    rescue Errno::ENOENT, JSON::ParserError
      raise ConfigError, "whether KVM works on this host is not known yet (#{accel_cache}): " \
                         "run `mesos-hyper host up` (or scripts/install.sh), or set " \
                         "MESOS_HYPER_CLUSTER_ACCEL=kvm or tcg"
    end
    doc["domain_type"] == "kvm" ? "kvm" : "tcg"
  end

  # The local box when scripts/build-box.sh added it, else Debian's own from Vagrant Cloud.
  def self.box(env, boxes_dir:)
    return env["MESOS_HYPER_BOX"] unless env.fetch("MESOS_HYPER_BOX", "").empty?

    local = File.join(boxes_dir, LOCAL_BOX.gsub("/", "-VAGRANTSLASH-"))
    File.directory?(local) ? LOCAL_BOX : CLOUD_BOX
  end

  # Why `vagrant up` cannot work on this host, each with its fix; empty when it can.
  def self.host_problems(repo:, libvirt_socket: "/var/run/libvirt/libvirt-sock")
    problems = []
    unless File.socket?(libvirt_socket)
      problems << "libvirt is not running here (no #{libvirt_socket}): run scripts/install.sh " \
                  "(it installs and starts libvirtd), or apt-get install libvirt-daemon-system"
    end
    missing = ARTIFACTS.reject { |path| File.exist?(File.join(repo, path)) }
    unless missing.empty?
      problems << "#{missing.join(' and ')} missing: run scripts/cluster/prepare.sh first " \
                  "(it hands the nodes the host's Mesos build and Python wheels)"
    end
    problems
  end
end
