using System.Text.Json;
using Probe.Data;
using Xunit;

namespace Probe.Tests.Cli;

public class FoundationCommandTests
{
    [Fact]
    public void LayersListsEveryModuleWithTypeParametersAndShape()
    {
        var (code, output, err) = Cli.Run("layers", "--model", "mlp:64-128-64-32-10:relu");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains("fc1", output);
        Assert.Contains("8320", output); // 64 * 128 + 128
        Assert.Contains("[128]", output);

        var (c2, json, _) = Cli.Run("layers", "--model", "cnn:1x8x8:10", "--json");
        Assert.Equal(0, c2);
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.GetProperty("modules").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Equal(new[] { "", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2" }, names);
    }

    [Fact]
    public void UsageErrorsExitTwoAndFailuresExitOneWithOneLine()
    {
        var missing = Cli.Run("layers");
        Assert.Equal(2, missing.Code);
        Assert.Contains("--model", missing.Err);

        var unknown = Cli.Run("layerz");
        Assert.Equal(2, unknown.Code);

        // A malformed model spec is a bad argument value: exit 2, with the parser's message.
        var spec = Cli.Run("layers", "--model", "mlp:64-x:relu");
        Assert.Equal(2, spec.Code);
        Assert.Contains("'x' is not", spec.Err);

        // A weights file that does not exist is a bad value (exit 2).
        Assert.Equal(2, Cli.Run("layers", "--model", "mlp:64-10", "--weights", "/nonexistent/w.safetensors").Code);

        // A failure (a weights file that cannot be read) is exit 1, one line, no stack trace without --verbose.
        string junk = Path.Combine(Path.GetTempPath(), $"probe-junk-{Guid.NewGuid():N}.safetensors");
        File.WriteAllText(junk, "not a weights file");
        var bad = Cli.Run("layers", "--model", "mlp:64-10", "--weights", junk);
        Assert.Equal(1, bad.Code);
        Assert.Single(bad.Err.Trim().Split('\n'));
        Assert.StartsWith("probe: ", bad.Err);
        Assert.DoesNotContain("   at ", bad.Err);

        var verbose = Cli.Run("layers", "--model", "mlp:64-10", "--weights", junk, "--verbose");
        File.Delete(junk);
        Assert.Equal(1, verbose.Code);
        Assert.Contains("   at ", verbose.Err);
    }

    [Fact]
    public void CaptureWritesOneNpyPerLayerPlusLabelsAndLayersJson()
    {
        string dir = Cli.TempDir("capture");
        try
        {
            var (code, output, err) = Cli.Run("capture", "--model", "mlp:64-128-64-32-10:relu", "--weights", Cli.Fixture("digits_mlp.safetensors"),
                "--data", "digits", "--layers", "fc1,relu2", "--max-samples", "300", "--seed", "3", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("relu2", output);
            var fc1 = Npy.ReadMatrix(Path.Combine(dir, "fc1.npy"));
            Assert.Equal((300, 128), (fc1.Rows, fc1.Cols));
            Assert.Equal(300, Npy.ReadInt32(Path.Combine(dir, "labels.npy")).Length);
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "layers.json")));
            var layers = doc.RootElement.GetProperty("layers").EnumerateArray().ToList();
            Assert.Equal(new[] { "fc1", "relu2" }, layers.Select(l => l.GetProperty("name").GetString()));
            Assert.Equal("Linear", layers[0].GetProperty("type").GetString());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CaptureFromAnInputMatrixMatchesTheReferenceActivations()
    {
        string dir = Cli.TempDir("capture-input");
        try
        {
            var (code, _, err) = Cli.Run("capture", "--model", "mlp:64-128-64-32-10:relu", "--weights", Cli.Fixture("digits_mlp.safetensors"),
                "--input", Cli.Fixture("digits_input.npy"), "--layers", "relu3", "--out", dir);
            Assert.True(code == 0, err);
            var got = Npy.ReadMatrix(Path.Combine(dir, "relu3.npy"));
            var expected = Npy.ReadMatrix(Cli.Fixture("digits_relu3.npy"));
            for (int i = 0; i < got.Data.Length; i++) Assert.Equal(expected.Data[i], got.Data[i], 1e-4f);
            Assert.False(File.Exists(Path.Combine(dir, "labels.npy")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CaptureOfSomeSamplesNamesTheirRowsAndTheyAreThoseRows()
    {
        string dir = Cli.TempDir("capture-rows"), all = Cli.TempDir("capture-all");
        try
        {
            var (code, _, err) = Cli.Run("capture", "--model", "mlp:64-128-64-32-10:relu", "--weights", Cli.Fixture("digits_mlp.safetensors"),
                "--input", Cli.Fixture("digits_input.npy"), "--layers", "relu3", "--max-samples", "250", "--seed", "5", "--out", dir);
            Assert.True(code == 0, err);
            var rows = Npy.ReadInt32(Path.Combine(dir, "rows.npy"));
            Assert.Equal(250, rows.Length);
            Assert.True(rows.Zip(rows.Skip(1)).All(p => p.First < p.Second) && rows[0] >= 0 && rows[^1] < 1797, "rows.npy: sorted distinct rows of the data");
            using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "layers.json"))))
                Assert.Equal("rows.npy", doc.RootElement.GetProperty("rows").GetString());
            // Row k of the capture is PyTorch's relu3 of data row rows[k] (tests/Probe.Tests/Fixtures/digits_relu3.npy).
            var got = Npy.ReadMatrix(Path.Combine(dir, "relu3.npy"));
            var expected = Npy.ReadMatrix(Cli.Fixture("digits_relu3.npy"));
            for (int k = 0; k < rows.Length; k++)
                for (int j = 0; j < got.Cols; j++)
                    Assert.Equal(expected[rows[k], j], got[k, j], 1e-4f);
            // Every row captured: no rows.npy, and layers.json says so.
            (code, _, err) = Cli.Run("capture", "--model", "mlp:64-128-64-32-10:relu", "--weights", Cli.Fixture("digits_mlp.safetensors"),
                "--input", Cli.Fixture("digits_input.npy"), "--layers", "relu3", "--out", all);
            Assert.True(code == 0, err);
            Assert.False(File.Exists(Path.Combine(all, "rows.npy")));
            using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(all, "layers.json"))))
                Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("rows").ValueKind);
        }
        finally { Directory.Delete(dir, true); Directory.Delete(all, true); }
    }

    [Fact]
    public void CaptureRefusesBadSelectorsAndConflictingInputs()
    {
        var both = Cli.Run("capture", "--model", "mlp:64-10", "--random-weights", "--data", "digits", "--input", "x.npy", "--out", "/tmp/x");
        Assert.Equal(2, both.Code);
        Assert.Contains("Give the data once: --data, or an unnamed --input X.npy, not both", both.Err);
        var none = Cli.Run("capture", "--model", "mlp:64-10", "--random-weights", "--out", "/tmp/x");
        Assert.Equal(2, none.Code);
        Assert.Contains("Give the data: --data DATA, or --input X.npy.", none.Err);

        var unknown = Cli.Run("capture", "--model", "mlp:64-32-10:relu", "--random-weights", "--data", "digits", "--layers", "fc7", "--out", Path.Combine(Path.GetTempPath(), "never"));
        Assert.Equal(2, unknown.Code); // a layer name that does not exist is a bad value
        Assert.Contains("Unknown layer 'fc7'", unknown.Err);
        Assert.Contains("fc1 (Linear)", unknown.Err);

        var reduce = Cli.Run("capture", "--model", "mlp:64-10", "--data", "digits", "--reduce", "median", "--out", "/tmp/x");
        Assert.Equal(2, reduce.Code);

        var noWeights = Cli.Run("capture", "--model", "mlp:64-10", "--weights", "/nonexistent.safetensors", "--data", "digits", "--out", "/tmp/x");
        Assert.Equal(2, noWeights.Code);
        Assert.Contains("does not exist", noWeights.Err);
    }

    [Fact]
    public void TrainGivesAResNetSpecWithoutClassesOneOutputPerClassOfTheData()
    {
        // The image tree has three class folders (apple, pear, plum: meta.json); resnet:18 without cCLASSES trained
        // ImageNet's 1000 outputs on them (epoch 0's loss ln 1000).
        string dir = Cli.TempDir("train-classes");
        try
        {
            string tree = Path.Combine(AppContext.BaseDirectory, "fixtures", "cnn_images", "tree");
            Assert.Equal(["apple", "pear", "plum"], Directory.GetDirectories(tree).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            var (code, output, err) = Cli.Run("train", "--model", "resnet:18:w4:3x32x32", "--data", "images:" + tree, "--epochs", "0", "--out", Path.Combine(dir, "a"));
            Assert.True(code == 0, err);
            Assert.Contains("3 outputs, one per class", output);
            var run = Probe.Models.RunFolder.Load(Path.Combine(dir, "a"));
            Assert.Equal("resnet:18:w4:c3:3x32x32", run.Info.Model);
            Assert.Equal([3L, 32L], Probe.Models.Weights.ReadShapes(Path.Combine(dir, "a", run.Checkpoints[0].File))["fc.weight"]);

            // A spec that names its classes keeps them.
            (code, _, err) = Cli.Run("train", "--model", "resnet:18:w4:c5:3x32x32", "--data", "images:" + tree, "--epochs", "0", "--out", Path.Combine(dir, "b"));
            Assert.True(code == 0, err);
            Assert.Equal("resnet:18:w4:c5:3x32x32", Probe.Models.RunFolder.Load(Path.Combine(dir, "b")).Info.Model);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TrainWritesARunFolderWithACheckpointPerEpoch()
    {
        string dir = Cli.TempDir("train");
        try
        {
            var (code, output, err) = Cli.Run("train", "--model", "mlp:2-8-2", "--data", "synthetic:xor-clouds?n=200&seed=1", "--epochs", "2", "--lr", "0.01", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("epoch   2", output);
            var run = Probe.Models.RunFolder.Load(dir);
            Assert.Equal(new[] { 0, 1, 2 }, run.Checkpoints.Select(c => c.Epoch));
            Assert.All(run.Checkpoints, c => Assert.Equal(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"], FileAssert.SafeTensors(Path.Combine(dir, c.File)).Order()));

            var bad = Cli.Run("train", "--model", "mlp:2-8-2", "--data", "digits", "--epochs", "1", "--optimizer", "rmsprop", "--out", dir);
            Assert.Equal(2, bad.Code);
        }
        finally { Directory.Delete(dir, true); }
    }
}
