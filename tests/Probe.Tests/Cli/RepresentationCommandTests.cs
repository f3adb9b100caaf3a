using System.Text.Json;
using Probe.Cli;
using Xunit;

namespace Probe.Tests.Cli;

public class RepresentationCommandTests
{
    private static string Fixture(string name) => ReferenceFixtures.Shared(name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement.GetProperty("digits_mlp").GetProperty("per_layer");

    private static (int Code, string Out, string Err) Run(params string[] args) => Cli.Run(args);

    // Reference: expected.json digits_mlp.per_layer.relu1.separability_ratio (1e-6 relative).
    [Fact]
    public void Separability_Acts_Json_MatchesReference()
    {
        var (code, output, err) = Run("separability", "--acts", Fixture("digits_relu1.npy"), "--labels", Fixture("digits_labels.npy"), "--json");
        Assert.True(code == 0, err);
        var layer = JsonDocument.Parse(output).RootElement.GetProperty("checkpoints")[0].GetProperty("layers")[0];
        double expected = Expected.GetProperty("relu1").GetProperty("separability_ratio").GetDouble();
        double ratio = layer.GetProperty("ratio").GetDouble();
        Assert.True(Math.Abs(ratio - expected) <= 1e-6 * expected, $"{ratio} vs {expected}");
        Assert.True(layer.GetProperty("fisherTraceRatio").GetDouble() > 0);
        Assert.Equal(1797, layer.GetProperty("samples").GetInt64());
    }

    [Fact]
    public void Separability_Table()
    {
        var (code, output, err) = Run("separability", "--acts", Fixture("digits_relu2.npy"), "--labels", Fixture("digits_labels.npy"));
        Assert.True(code == 0, err);
        Assert.Contains("digits_relu2", output);
        Assert.Contains("Fisher tr", output);
    }

    // Reference: expected.json digits_mlp.per_layer.relu1.probe_test_accuracy_sklearn_lbfgs_C1_standardized (2 points).
    [Fact]
    public void LinearProbe_Acts_TrainMask_Json_MatchesReference()
    {
        var (code, output, err) = Run("linear-probe", "--acts", Fixture("digits_relu1.npy"), "--labels", Fixture("digits_labels.npy"),
            "--train-mask", Fixture("digits_probe_train_mask.npy"), "--json");
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output).RootElement;
        var probe = root.GetProperty("checkpoints")[0].GetProperty("layers")[0].GetProperty("probe");
        double expected = Expected.GetProperty("relu1").GetProperty("probe_test_accuracy_sklearn_lbfgs_C1_standardized").GetDouble();
        double acc = probe.GetProperty("testAccuracy").GetDouble();
        Assert.True(Math.Abs(acc - expected) <= 0.02, $"{acc} vs {expected}");
        Assert.Equal(1200, probe.GetProperty("trainCount").GetInt32());
        Assert.Equal(597, probe.GetProperty("testCount").GetInt32());
        Assert.Equal("Lbfgs", probe.GetProperty("trainer").GetString());
        Assert.Equal(0, root.GetProperty("warnings").GetArrayLength());
    }

    // The PyTorch reference weights on the reference inputs reproduce the fixture activations, so the per-layer mode
    // must give the reference numbers for relu2 too.
    [Fact]
    public void Model_Mode_PerLayer_Table()
    {
        var (code, output, err) = Run("linear-probe", "--model", "mlp:64-128-64-32-10:relu", "--weights", Fixture("digits_mlp.safetensors"),
            "--data", $"npy:{Fixture("digits_input.npy")},{Fixture("digits_labels.npy")}", "--layers", "relu2",
            "--train-mask", Fixture("digits_probe_train_mask.npy"), "--json");
        Assert.True(code == 0, err);
        var probe = JsonDocument.Parse(output).RootElement.GetProperty("checkpoints")[0].GetProperty("layers")[0];
        Assert.Equal("relu2", probe.GetProperty("layer").GetString());
        double expected = Expected.GetProperty("relu2").GetProperty("probe_test_accuracy_sklearn_lbfgs_C1_standardized").GetDouble();
        Assert.True(Math.Abs(probe.GetProperty("probe").GetProperty("testAccuracy").GetDouble() - expected) <= 0.02);
    }

    [Theory]
    [InlineData("separability", "--acts", "a.npy")]                               // --labels missing
    [InlineData("separability", "--labels", "y.npy")]                             // no source
    [InlineData("linear-probe", "--acts", "a.npy", "--labels", "y.npy", "--trainer", "adam")]
    [InlineData("linear-probe", "--acts", "a.npy", "--labels", "y.npy", "--run", "r")]
    [InlineData("linear-probe", "--model", "mlp:4-2", "--labels", "y.npy")]
    public void UsageErrors_Exit2(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("probe: ", err);
    }

    [Fact]
    public void BadFiles_Exit1_WithOneLine()
    {
        // A file that does not exist is a bad value (exit 2, with the usage line); one that cannot be used fails (exit 1, one line).
        var (code, _, err) = Run("separability", "--acts", "/nonexistent/a.npy", "--labels", Fixture("digits_labels.npy"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err);

        // An int32 file where a bool mask belongs.
        (code, _, err) = Run("linear-probe", "--acts", Fixture("digits_relu1.npy"), "--labels", Fixture("digits_labels.npy"),
            "--train-mask", Fixture("digits_labels.npy"));
        Assert.Equal(1, code);
        Assert.StartsWith("probe: ", err);

        (code, _, err) = Run("linear-probe", "--acts", Fixture("cka_x.npy"), "--labels", Fixture("digits_labels.npy"));
        Assert.Equal(1, code);
        Assert.Contains("labels", err);

        (code, _, err) = Run("linear-probe", "--run", "/nonexistent-run-dir");
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err);
        (code, _, err) = Run("linear-probe", "--run", Path.GetTempPath());
        Assert.Equal(2, code);
        Assert.Contains("run.json", err);
    }

    [Fact]
    public void Run_Mode_EveryCheckpoint_UsesRunSplit()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-cli-repr-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = new Probe.Data.Dataset("digits", Probe.Data.Npy.ReadMatrix(Fixture("digits_input.npy")), Probe.Data.Npy.ReadInt32(Fixture("digits_labels.npy")), [1, 8, 8]);
            var run = new Probe.Models.Trainer(Epochs: 2, Seed: 0).Train(Probe.Models.ModelSpec.Parse("mlp:64-32-10"), data,
                $"npy:{Fixture("digits_input.npy")},{Fixture("digits_labels.npy")}", dir);

            var (code, output, err) = Run("linear-probe", "--run", dir, "--layers", "relu1", "--max-samples", "600", "--json");
            Assert.True(code == 0, err);
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("the run's recorded train/test split", root.GetProperty("split").GetString());
            var cps = root.GetProperty("checkpoints");
            Assert.Equal([0, 1, 2], cps.EnumerateArray().Select(c => c.GetProperty("epoch").GetInt32()));
            var rows = Probe.Capture.SampleChooser.Choose(1797, 600, 0);
            var test = new HashSet<int>(run.Info.Split.TestIndices);
            foreach (var c in cps.EnumerateArray())
                Assert.Equal(rows.Count(r => !test.Contains(r)), c.GetProperty("layers")[0].GetProperty("probe").GetProperty("trainCount").GetInt32());

            (code, output, err) = Run("separability", "--run", dir, "--epochs", "0,2", "--layers", "relu1");
            Assert.True(code == 0, err);
            Assert.Contains("epoch", output);
            (code, _, err) = Run("separability", "--run", dir, "--epochs", "7");
            Assert.Equal(2, code);
            Assert.Contains("available epochs", err);
        }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
    }
}
