using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// <c>probe cka</c> and <c>probe compare</c> in memory: the --a/--b values reproduce Fixtures/expected.json
/// (cka_x_vs.*, NumPy reference, 1e-6 relative), usage errors exit 2, bad files and degenerate data exit 1 with one line.
/// </summary>
public class CkaCommandTests
{
    private static string Fixture(string name) => ReferenceFixtures.Shared(name);

    private static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement);

    private static (int Code, string Out, string Err) Run(params string[] args) => Cli.Run(args);

    public static TheoryData<string, string, string[]> Cases()
    {
        var data = new TheoryData<string, string, string[]>();
        foreach (var other in new[] { "cka_y_rot", "cka_y_relu", "cka_z", "cka_noise" })
        {
            data.Add(other, "linear", []);
            data.Add(other, "linear_debiased", ["--debiased"]);
            data.Add(other, "rbf_0.4", ["--kernel", "rbf"]);
            data.Add(other, "rbf_0.8", ["--kernel", "rbf", "--sigma-frac", "0.8"]);
            data.Add(other, "rbf_0.4_debiased", ["--kernel", "rbf", "--debiased"]);
            data.Add(other, "linear_minibatch_50", ["--batch", "50"]);
        }
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void TwoMatricesReproduceTheReferenceValues(string other, string key, string[] extra)
    {
        var (code, output, err) = Run(["cka", "--a", Fixture("cka_x.npy"), "--b", Fixture(other + ".npy"), "--json", .. extra]);
        Assert.True(code == 0, err);
        double value = JsonDocument.Parse(output).RootElement.GetProperty("value").GetDouble();
        double expected = Expected.Value.GetProperty("cka_x_vs").GetProperty(other).GetProperty(key).GetDouble();
        // 1e-6 relative (SOURCE.md); values near 0 (debiased CKA of noise) get the same tolerance in absolute terms.
        Assert.True(Math.Abs(value - expected) <= 1e-6 * Math.Max(Math.Abs(expected), 1e-2), $"{other} {key}: {value} vs {expected}");
    }

    /// <summary>
    /// One file given as both sides (written two ways) is one data set, exactly 1 in every form: 2,000 x 600 is large
    /// enough for float32 products (over 2e9 flops), where two readings of it computed apart gave 0.99999998 here.
    /// </summary>
    [Theory]
    [InlineData()]
    [InlineData("--debiased")]
    [InlineData("--kernel", "rbf")]
    public void OneFileAgainstItselfIsExactlyOne(params string[] extra)
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-cka-self-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var rng = new Random(3);
            string path = Path.Combine(dir, "x.npy");
            Npy.Write(path, Matrix.Create(2000, 600, (_, _) => (float)(rng.NextDouble() * 2 - 1)));
            var (code, output, err) = Run(["cka", "--a", path, "--b", Path.Combine(dir, ".", "x.npy"), "--json", .. extra]);
            Assert.True(code == 0, err);
            Assert.Equal(1.0, JsonDocument.Parse(output).RootElement.GetProperty("value").GetDouble());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TextOutputPrintsTheValue()
    {
        var (code, output, _) = Run("cka", "--a", Fixture("cka_x.npy"), "--b", Fixture("cka_y_relu.npy"));
        Assert.Equal(0, code);
        Assert.Contains("linear CKA: 0.798526", output);
    }

    [Theory]
    [InlineData("cka")]
    [InlineData("cka", "--a", "x.npy")]
    [InlineData("cka", "--a", "x.npy", "--b", "y.npy", "--kernel", "cosine")]
    [InlineData("cka", "--a", "x.npy", "--b", "y.npy", "--batch", "3")]
    [InlineData("cka", "--a", "x.npy", "--b", "y.npy", "--sigma-frac", "-1")]
    [InlineData("cka", "--a", "x.npy", "--b", "y.npy", "--model", "mlp:64-10")]
    [InlineData("cka", "--model", "mlp:64-10")]
    [InlineData("cka", "--model", "mlp:64-10", "--data", "digits", "--batch", "8")]
    [InlineData("compare")]
    [InlineData("compare", "--model-a", "mlp:64-10")]
    [InlineData("compare", "--run", "r", "--model-a", "mlp:64-10", "--data", "digits")]
    [InlineData("compare", "--run", "r", "--epochs", "1,2,3")]
    public void BadArgumentsExitTwo(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("probe: ", err);
    }

    [Fact]
    public void MissingFileIsRefusedWhileParsing()
    {
        // A missing input is a bad value (exit 2): one line naming the file, then the usage hint.
        var (code, _, err) = Run("cka", "--a", Fixture("cka_x.npy"), "--b", Path.Combine(Path.GetTempPath(), "no-such-file-cka.npy"));
        Assert.Equal(ExitCodes.Usage, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("no-such-file-cka.npy", lines[0]);
    }

    [Fact]
    public void DegenerateInputGivesAClearOneLineError()
    {
        string dir = Directory.CreateTempSubdirectory("probe-cka-").FullName;
        try
        {
            string constant = Path.Combine(dir, "constant.npy"), shortFile = Path.Combine(dir, "short.npy");
            Npy.Write(constant, Matrix.Create(300, 5, (_, j) => j));
            Npy.Write(shortFile, Matrix.Create(299, 5, (i, j) => i * j));
            var (code, _, err) = Run("cka", "--a", Fixture("cka_x.npy"), "--b", constant);
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("constant", err);
            (code, _, err) = Run("cka", "--a", Fixture("cka_x.npy"), "--b", shortFile);
            Assert.Equal(ExitCodes.Failure, code);
            Assert.Contains("299 samples", err);
            Assert.Contains("300", err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ModelModeGivesASymmetricUnitDiagonalTableAndWritesTheHeatmap()
    {
        string dir = Directory.CreateTempSubdirectory("probe-cka-").FullName;
        try
        {
            var (code, output, err) = Run("cka", "--model", "mlp:64-32-16-10", "--random-weights", "--data", "digits", "--max-samples", "120", "--out", dir, "--json");
            Assert.True(code == 0, err);
            var root = JsonDocument.Parse(output).RootElement;
            var rows = root.GetProperty("rows").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.Equal(["input", "fc1", "relu1", "fc2", "relu2", "fc3"], rows);
            Assert.Equal(120, root.GetProperty("samples").GetInt32());
            Assert.Equal("full", root.GetProperty("method").GetString());
            var v = root.GetProperty("values").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
            for (int i = 0; i < v.Length; i++)
            {
                Assert.Equal(1.0, v[i][i], 9);
                for (int j = 0; j < v.Length; j++) { Assert.Equal(v[i][j], v[j][i], 9); Assert.InRange(v[i][j], 0, 1 + 1e-9); }
            }
            // the saved table is the one printed; the figures are a valid PNG and SVG
            using (var saved = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "cka.json"))))
                Assert.Equal(v, saved.RootElement.GetProperty("values").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray());
            FileAssert.Png(Path.Combine(dir, "cka.png"));
            FileAssert.Svg(Path.Combine(dir, "cka.svg"));

            // The streaming path gives a table of the same shape and close values (minibatch HSIC1 vs full-data biased HSIC).
            (code, output, err) = Run("cka", "--model", "mlp:64-32-16-10", "--random-weights", "--data", "digits", "--max-samples", "120", "--method", "minibatch", "--batch-size", "60", "--json");
            Assert.True(code == 0, err);
            var m = JsonDocument.Parse(output).RootElement;
            Assert.Equal("minibatch", m.GetProperty("method").GetString());
            Assert.Equal(1.0, m.GetProperty("values")[2][2].GetDouble(), 9);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CompareTwoIdenticalModelsHasUnitDiagonal()
    {
        // Same spec, same seed, no weights: identical networks, so CKA(A layer i, B layer i) = 1.
        var (code, output, err) = Run("compare", "--model-a", "mlp:64-32-10", "--random-weights", "--data", "digits", "--max-samples", "100", "--layers", "fc1,relu1,fc2", "--json");
        Assert.True(code == 0, err);
        var v = JsonDocument.Parse(output).RootElement.GetProperty("values");
        Assert.Equal(3, v.GetArrayLength());
        for (int i = 0; i < 3; i++) Assert.Equal(1.0, v[i][i].GetDouble(), 9);
    }

    [Fact]
    public void CompareNamesTwoOnnxModelsAndSameNamedWeightsByTheirFiles()
    {
        // Two ONNX exports were called "A" and "B" in the table, the JSON and the heatmap's axes; two seeds' weights
        // saved under the same file name (seed0/model.pt, seed1/model.pt) were both called "model".
        string dir = Directory.CreateTempSubdirectory("probe-compare-names-").FullName;
        try
        {
            string R(string f) => Path.Combine(AppContext.BaseDirectory, "fixtures", "resnet", f);
            File.Copy(R("resnet18_w4.onnx"), Path.Combine(dir, "other.onnx"));
            var (code, output, err) = Run("compare", "--model-a", R("resnet18_w4.onnx"), "--model-b", Path.Combine(dir, "other.onnx"),
                "--data", "npy:" + R("input.npy"), "--layers", "fc", "--json");
            Assert.True(code == 0, err);
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("resnet18_w4", root.GetProperty("rowModel").GetString());
            Assert.Equal("other", root.GetProperty("columnModel").GetString());

            foreach (var seed in new[] { "seed0", "seed1" })
            {
                Directory.CreateDirectory(Path.Combine(dir, seed));
                File.Copy(R("resnet18_w4.pt"), Path.Combine(dir, seed, "model.pt"));
            }
            (code, output, err) = Run("compare", "--model-a", "resnet:18:w4:c5:3x32x32", "--weights-a", Path.Combine(dir, "seed0", "model.pt"),
                "--weights-b", Path.Combine(dir, "seed1", "model.pt"), "--data", "npy:" + R("input.npy"), "--layers", "fc", "--json");
            Assert.True(code == 0, err);
            root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("seed0/model", root.GetProperty("rowModel").GetString());
            Assert.Equal("seed1/model", root.GetProperty("columnModel").GetString());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void CompareCheckpointsOfARun()
    {
        string dir = Directory.CreateTempSubdirectory("probe-cka-run-").FullName;
        try
        {
            var data = Datasets.Digits();
            new Trainer("adam", Epochs: 1, BatchSize: 64, Seed: 3).Train(ModelSpec.Parse("mlp:64-32-10"), data, "digits", dir);
            var (code, output, err) = Run("compare", "--run", dir, "--json");
            Assert.True(code == 0, err);
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("epoch 0", root.GetProperty("rowModel").GetString());
            Assert.Equal("epoch 1", root.GetProperty("columnModel").GetString());
            Assert.Equal(["input", "fc1", "relu1", "fc2"], root.GetProperty("columns").EnumerateArray().Select(e => e.GetString()!).ToArray());
            Assert.Equal(1.0, root.GetProperty("values")[0][0].GetDouble(), 9); // input vs input
            double fc2 = root.GetProperty("values")[3][3].GetDouble();
            Assert.InRange(fc2, 0, 1 - 1e-6); // training changed the logits

            (code, _, err) = Run("compare", "--run", dir, "--epochs", "0,7");
            Assert.Equal(ExitCodes.Usage, code); // an epoch the run does not have is a bad value
            Assert.Contains("no checkpoint at epoch 7", err);
        }
        finally { Directory.Delete(dir, true); }
    }
}
