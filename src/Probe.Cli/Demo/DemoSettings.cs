using Probe.Models;

namespace Probe.Cli.Demo;

/// <summary>The demo's fixed recipe: the digits MLP trained with Adam, and a second run whose learning rate kills units.</summary>
public sealed record DemoSettings(int Seed = 0, bool Quick = false)
{
    public const string Model = "mlp:64-128-64-32-10:relu";
    public const string DataSpec = "digits";

    public int Epochs => Quick ? 4 : 20;

    public Trainer MainTrainer => new("adam", Epochs, BatchSize: 32, LearningRate: 1e-3, Seed: Seed, TestFraction: 0.2);

    /// <summary>
    /// Adam with a step 20 times the usual one: the network still learns (about 0.9 test accuracy) but the first
    /// large updates push many first-layer ReLUs below zero for every input, and they never come back (measured
    /// with seed 0: about half of relu1 dead after 4 epochs and after 20).
    /// </summary>
    public Trainer HighLearningRateTrainer => new("adam", Epochs, BatchSize: 32, LearningRate: 0.02, Seed: Seed, TestFraction: 0.2);
}
