using Probe.Models;

namespace Probe.Cli.Demo;

/// <summary>The demo's fixed recipe: the digits MLP trained with Adam, and a second run whose learning rate kills units.</summary>
public sealed record DemoSettings(int Seed = 0, bool Quick = false)
{
    public const string Model = "mlp:64-128-64-32-10:relu";
    public const string DataSpec = "digits";

    public int Epochs => Quick ? 4 : 20;

    public Trainer MainTrainer => new("adam", Epochs, BatchSize: 32, LearningRate: 1e-3, Seed: Seed, TestFraction: 0.2);

    /// <summary>Plain SGD with a step far too large: many ReLUs are pushed below zero for every input and never come back.</summary>
    public Trainer HighLearningRateTrainer => new("sgd", Epochs, BatchSize: 32, LearningRate: 0.5, Seed: Seed, TestFraction: 0.2);
}
