using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Cli;

public class DeadCommandTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-dead-cli-" + Guid.NewGuid().ToString("N"));

    public DeadCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    static string Fixture(string name) => ReferenceFixtures.Shared(name);

    static readonly string[] Reference =
        ["dead", "--model", "mlp:64-128-64-32-10:relu", "--weights", Fixture("digits_mlp.safetensors"), "--data", "npy:" + Fixture("digits_input.npy")];

    static (int Code, string Out, string Err) Run(params string[] args) => Cli.Run(args);

    [Fact]
    public void FailAbove_ExitsThreeAndNamesTheLayers()
    {
        // expected.json dead_unit_fraction: relu1 0.117, relu2 0.25, relu3 0.156.
        var (code, output, err) = Run([.. Reference, "--fail-above", "0.2"]);
        Assert.Equal(ExitCodes.ThresholdExceeded, code);
        Assert.Contains("relu2", err);
        Assert.DoesNotContain("relu1", err);
        Assert.Contains("relu3", output); // the table still lists every layer
        Assert.Contains("6 bias too low", output);
    }

    [Fact]
    public void BelowThreshold_ExitsZero()
    {
        var (code, output, err) = Run([.. Reference, "--fail-above", "0.3"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", err);
        Assert.Contains("dead fraction", output);
    }

    [Fact]
    public void Json_ParsesAndHasDeadUnitsAndCauses()
    {
        var (code, output, _) = Run([.. Reference, "--json", "--layers", "relu2"]);
        Assert.Equal(ExitCodes.Ok, code);
        var root = JsonDocument.Parse(output).RootElement;
        var layer = root.GetProperty("layers").EnumerateArray().Single();
        Assert.Equal("relu2", layer.GetProperty("layer").GetString());
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 8, 12, 18, 27, 33, 37, 43, 48, 59, 62 }, // expected.json digits_mlp.per_layer.relu2.dead_units
            layer.GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        var causes = layer.GetProperty("causes").EnumerateArray().ToList();
        Assert.All(causes.Take(6), c => Assert.Equal("BiasBelowReachableInput", c.GetProperty("reason").GetString()));
        Assert.Equal(64, layer.GetProperty("firingRateHistogram").GetProperty("counts").EnumerateArray().Sum(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("timeline").ValueKind);
    }

    [Theory]
    [InlineData("dead", "--data", "digits")]                                                     // neither --model nor --run
    [InlineData("dead", "--model", "mlp:64-10", "--data", "digits")]                              // --model without --weights
    [InlineData("dead", "--run", "x", "--model", "mlp:64-10", "--weights", "w", "--data", "digits")] // both
    [InlineData("dead", "--model", "mlp:64-10", "--weights", "w", "--data", "digits", "--fail-above", "2")]
    [InlineData("dead", "--model", "mlp:64-10", "--weights", "w", "--data", "digits", "--fail-above", "abc")]
    [InlineData("dead", "--run", "x", "--bogus")]
    public void BadArguments_ExitTwo(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("probe: ", err);
    }

    [Fact]
    public void MissingWeightsFile_ExitsTwo()
    {
        var (code, _, err) = Run("dead", "--model", "mlp:64-128-64-32-10:relu", "--weights", Path.Combine(_dir, "nope.safetensors"), "--data", "digits");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("does not exist", err);
        Assert.Contains("nope.safetensors", err);
    }

    [Fact]
    public void MissingRunFolder_ExitsTwo()
    {
        var (code, _, err) = Run("dead", "--run", Path.Combine(_dir, "no-run"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("does not exist", err);
    }

    [Fact]
    public void Run_WithOut_WritesTimelineAndReport()
    {
        var data = Synthetic.Blobs(n: 120, classes: 3, dims: 4, seed: 1);
        var run = new Trainer("sgd", Epochs: 2, BatchSize: 16, LearningRate: 0.3, Seed: 0, TestFraction: 0.25)
            .Train(ModelSpec.Parse("mlp:4-8-3:relu"), data, "synthetic:blobs?n=120&dims=4&seed=1", Path.Combine(_dir, "run"));
        string report = Path.Combine(_dir, "report");
        var (code, output, err) = Run("dead", "--run", run.Directory, "--json", "--out", report);
        Assert.True(code == ExitCodes.Ok, err);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(new[] { 0, 1, 2 }, root.GetProperty("timeline").GetProperty("epochs").EnumerateArray().Select(e => e.GetInt32()));
        var rates = root.GetProperty("timeline").GetProperty("layers")[0].GetProperty("firingRatesByCheckpoint");
        Assert.Equal(3, rates.GetArrayLength());
        Assert.Equal(8, rates[0].GetArrayLength());
        string index = File.ReadAllText(Path.Combine(report, "index.html"));
        foreach (var figure in new[] { "figures/dead-units-relu1-timeline.png", "figures/dead-units-dead-fraction-over-training.png" })
        {
            Assert.Contains(figure, index);
            FileAssert.Png(Path.Combine(report, figure));
        }
        Assert.Contains("dead_fraction", File.ReadAllText(Path.Combine(report, "report.json")));
    }

    [Fact]
    public void ActsDirOfPyTorchOutputsNeedsNoModelAndGivesNumPysDeadUnits()
    {
        foreach (var layer in new[] { "relu1", "relu2", "relu3" })
            File.Copy(Fixture($"digits_{layer}.npy"), Path.Combine(_dir, layer + ".npy"));
        var (code, output, err) = Run("dead", "--acts-dir", _dir, "--json");
        Assert.True(code == 0, err);
        var layers = JsonDocument.Parse(output).RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(new[] { "relu1", "relu2", "relu3" }, layers.Select(l => l.GetProperty("layer").GetString()));
        // expected.json digits_mlp.per_layer.relu2.dead_units (NumPy on PyTorch's outputs).
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 8, 12, 18, 27, 33, 37, 43, 48, 59, 62 },
            layers[1].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Theory]
    [InlineData("dead", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("capture", "--model", "mlp:64-10", "--data", "digits", "--out", "never")]
    [InlineData("separability", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("linear-probe", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("cka", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("compare", "--model-a", "mlp:64-10", "--weights-a", "a.safetensors", "--data", "digits")]
    public void EveryAnalysisOfAModelWithoutWeightsExitsTwoAndOffersRandomWeights(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("random weights", err);
        Assert.Contains("--random-weights", err);
    }
}
