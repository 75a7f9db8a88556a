"""What synth needs and produces, without jsii: the loaded inputs, Lambda zips, member stamping, the synth cache and
output swap, the organization-wide rules on the output, and which stacks changed and in which deploy shard each goes.
``stacks/`` (the CDKTF layer) builds on it; nothing here imports ``stacks`` or cdktf."""
