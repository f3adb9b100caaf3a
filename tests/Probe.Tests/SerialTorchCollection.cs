using Xunit;

namespace Probe.Tests;

/// <summary>
/// Tests that train CNNs (the trainer tests, the layer-correspondence example) run alone, after the parallel tests. In full parallel runs the CNN trainer test twice saw a
/// NaN loss at learning rate 1e-3 that 60 sequential and 48 concurrent repetitions outside the test host (with a
/// thread forcing compacting GCs) did not reproduce; the cause is not yet found (see the Foundation issue's note).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTorchCollection
{
    public const string Name = "Serial libtorch training";
}
