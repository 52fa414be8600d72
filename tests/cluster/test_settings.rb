# frozen_string_literal: true

# The test cluster's node settings (scripts/cluster/settings.rb), without Vagrant.
# Run: ruby tests/cluster/test_settings.rb (tests/test_cluster.py does).
require "minitest/autorun"
require "fileutils"
require "tmpdir"
require_relative "../../scripts/cluster/settings"

class ClusterSettingsTest < Minitest::Test
  C = MesosHyperCluster

  def test_a_master_and_two_agents_by_default_on_the_private_network
    nodes = C.nodes({})
    assert_equal %w[master agent1 agent2], nodes.map(&:name)
    assert_equal %w[192.168.57.10 192.168.57.11 192.168.57.12], nodes.map(&:ip)
    assert_equal "zk://192.168.57.10:2181/mesos", C.zk_url
    assert_equal [1, 2, 2], nodes.map(&:cpus)
  end

  def test_mesos_hyper_agents_sets_the_agent_count
    assert_equal %w[master agent1], C.nodes({ "MESOS_HYPER_AGENTS" => "1" }).map(&:name)
    assert_equal 9, C.nodes({ "MESOS_HYPER_AGENTS" => " 8 " }).size
  end

  def test_bad_counts_and_sizes_are_refused_with_the_variable_named
    ["0", "9", "two", "-1", ""].each do |bad|
      err = assert_raises(C::ConfigError) { C.nodes({ "MESOS_HYPER_AGENTS" => bad }) }
      assert_match(/MESOS_HYPER_AGENTS=.*expected a whole number from 1 to 8/, err.message)
    end
    err = assert_raises(C::ConfigError) { C.nodes({ "MESOS_HYPER_AGENT_MEMORY_MIB" => "512" }) }
    assert_match(/MESOS_HYPER_AGENT_MEMORY_MIB="512"/, err.message)
  end

  def test_an_agent_offers_cpus_mem_disk_and_ports_leaving_room_for_its_own_daemons
    agent = C.nodes({ "MESOS_HYPER_AGENT_CPUS" => "4", "MESOS_HYPER_AGENT_MEMORY_MIB" => "4096" })[1]
    assert_equal "cpus:3;mem:3072;disk:10240;ports:[31000-32000]", C.agent_resources(agent)
    one = C.nodes({ "MESOS_HYPER_AGENT_CPUS" => "1" })[1]
    assert_match(/\Acpus:1;/, C.agent_resources(one))
  end

  def test_kvm_nodes_where_the_hosts_probe_found_kvm_working
    with_cache("kvm") do |cache, kvm|
      assert_equal({ driver: "kvm", cpu_mode: "host-passthrough", nested: true },
                   C.accelerator({}, accel_cache: cache, dev_kvm: kvm))
    end
  end

  def test_tcg_nodes_with_a_cpu_model_that_shows_svm_where_kvm_hangs
    with_cache("qemu") do |cache, kvm|
      assert_equal({ driver: "qemu", cpu_mode: "host-model", nested: false },
                   C.accelerator({}, accel_cache: cache, dev_kvm: kvm))
    end
  end

  def test_no_dev_kvm_means_tcg_without_a_probe
    assert_equal "qemu", C.accelerator({}, accel_cache: "/nonexistent", dev_kvm: "/nonexistent")[:driver]
  end

  def test_an_unprobed_host_with_dev_kvm_is_told_how_to_find_out
    Dir.mktmpdir do |dir|
      kvm = File.join(dir, "kvm")
      File.write(kvm, "")
      err = assert_raises(C::ConfigError) { C.accelerator({}, accel_cache: File.join(dir, "none"), dev_kvm: kvm) }
      assert_match(/mesos-hyper host up.*MESOS_HYPER_CLUSTER_ACCEL=kvm or tcg/, err.message)
    end
  end

  def test_the_accelerator_can_be_forced_and_a_bad_one_is_refused
    assert_equal "kvm", C.accelerator({ "MESOS_HYPER_CLUSTER_ACCEL" => "KVM" }, dev_kvm: "/nonexistent")[:driver]
    assert_equal "qemu", C.accelerator({ "MESOS_HYPER_CLUSTER_ACCEL" => "tcg" })[:driver]
    err = assert_raises(C::ConfigError) { C.accelerator({ "MESOS_HYPER_CLUSTER_ACCEL" => "xen" }) }
    assert_match(/expected kvm or tcg/, err.message)
  end

  def test_the_local_box_when_added_else_debians_own
    Dir.mktmpdir do |boxes|
      assert_equal "debian/bookworm64", C.box({}, boxes_dir: boxes)
      Dir.mkdir(File.join(boxes, "mesos-hyper-VAGRANTSLASH-debian12"))
      assert_equal "mesos-hyper/debian12", C.box({}, boxes_dir: boxes)
      assert_equal "my/box", C.box({ "MESOS_HYPER_BOX" => "my/box" }, boxes_dir: boxes)
    end
  end

  def test_host_problems_name_each_fix
    Dir.mktmpdir do |repo|
      problems = C.host_problems(repo: repo, libvirt_socket: File.join(repo, "sock"))
      assert_equal 2, problems.size
      assert_match(/libvirt is not running.*scripts\/install.sh/, problems[0])
      assert_match(%r{\.cluster/mesos-runtime\.tar\.gz and \.cluster/wheels missing: run scripts/cluster/prepare\.sh}, problems[1])
      FileUtils.mkdir_p(File.join(repo, ".cluster", "wheels"))
      File.write(File.join(repo, ".cluster", "mesos-runtime.tar.gz"), "")
      assert_equal 1, C.host_problems(repo: repo, libvirt_socket: File.join(repo, "sock")).size
    end
  end

  private

  def with_cache(domain_type)
    Dir.mktmpdir do |dir|
      cache = File.join(dir, "accel.json")
      File.write(cache, JSON.generate({ "domain_type" => domain_type }))
      kvm = File.join(dir, "kvm")
      File.write(kvm, "")
      yield cache, kvm
    end
  end
end
