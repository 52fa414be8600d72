"""The Mesos model: what the agent hands us (launch, tasks, resources, health checks) as
plain typed objects, and the converters from and to its protobuf and v1 JSON. Protobuf stays
at this edge; the ECP, the executor and the state records use these objects."""
