using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// The one similarity grammar: <c>probe similarity --measure M</c> in every layer mode <c>probe cka</c> and
/// <c>probe compare</c> have, and those two as the same command. Table entries are checked against NumPy
/// (tests/fixtures/similarity/expected.json, make_similarity.py) or against exact identities (a layer compared with
/// itself in an identical network scores 1 under every measure), never against Probe itself.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class SimilarityGrammarTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("probe-sim-grammar-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static string F(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "similarity", name);

    private static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(F("expected.json"))).RootElement.GetProperty("cases"));

    private static double V(JsonElement values, string key) => key == "procrustes" ? values.GetProperty("procrustes").GetProperty("similarity").GetDouble() : values.GetProperty(key).GetDouble();

    private static double[][] Values(JsonElement root) =>
        root.GetProperty("values").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();

    public static TheoryData<string, string> Measures()
    {
        var data = new TheoryData<string, string>();
        foreach (var m in new[] { "cka", "mean-cca", "svcca", "pwcca", "procrustes", "mutual-knn", "rsa", "linreg" }) data.Add("related", m);
        data.Add("wide", "procrustes"); // more columns than rows: Procrustes through the n x n Gram factor
        data.Add("wide", "cka");
        return data;
    }

    [Theory, MemberData(nameof(Measures))]
    public void ActsDirTableEqualsNumPyForEveryMeasure(string c, string measure)
    {
        string acts = Path.Combine(_dir, "acts"), outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(acts);
        File.Copy(F(c + "_a.npy"), Path.Combine(acts, "a.npy"));
        File.Copy(F(c + "_b.npy"), Path.Combine(acts, "b.npy"));
        var (code, output, err) = Cli.Run("similarity", "--measure", measure, "--acts-dir", acts, "--out", outDir, "--json");
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(measure, root.GetProperty("measure").GetString());
        Assert.Equal(["a", "b"], root.GetProperty("rows").EnumerateArray().Select(e => e.GetString()!).ToArray());
        var v = Values(root);
        var e = Expected.Value.GetProperty(c).GetProperty("values");
        // rows compare with columns: linreg is the R^2 of the column layer from the row layer; pwcca is asymmetric at p = q only.
        double ab = V(e, measure);
        double ba = measure is "linreg" or "pwcca" ? V(e, measure + "_swapped") : ab;
        Assert.True(Math.Abs(v[0][1] - ab) <= 1e-6 * Math.Abs(ab), $"{measure} (a, b): {v[0][1]} vs NumPy {ab}");
        Assert.True(Math.Abs(v[1][0] - ba) <= 1e-6 * Math.Abs(ba), $"{measure} (b, a): {v[1][0]} vs NumPy {ba}");
        Assert.True(File.Exists(Path.Combine(outDir, "similarity.json")));
        FileAssert.Png(Path.Combine(outDir, "similarity.png"));
        FileAssert.Svg(Path.Combine(outDir, "similarity.svg"));
    }

    [Fact]
    public void TwoRunsCheckpointsAndTwoModelsRunEveryMeasure()
    {
        // Two runs with the same seed are the same network: every measure gives 1 for a layer against itself.
        string runA = Path.Combine(_dir, "seed-a"), runB = Path.Combine(_dir, "seed-b");
        var data = Datasets.Digits();
        foreach (var dir in new[] { runA, runB })
            new Trainer("adam", Epochs: 1, BatchSize: 64, Seed: 3).Train(ModelSpec.Parse("mlp:64-32-10"), data, "digits", dir);
        foreach (var measure in new[] { "cka", "mean-cca", "svcca", "pwcca", "procrustes", "mutual-knn", "rsa", "linreg" })
        {
            var (code, output, err) = Cli.Run("similarity", "--measure", measure, "--run", runA, "--run-b", runB, "--layers", "input,fc1,fc2", "--json");
            Assert.True(code == 0, $"{measure}: {err}");
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal("seed-a epoch 1", root.GetProperty("rowModel").GetString());
            Assert.Equal("seed-b epoch 1", root.GetProperty("columnModel").GetString());
            var v = Values(root);
            Assert.Equal(3, v.Length);
            for (int i = 0; i < 3; i++) Assert.True(Math.Abs(v[i][i] - 1) <= 1e-6, $"{measure} layer {i}: {v[i][i]}");
        }

        // Two checkpoints of one run, through probe compare with another measure: the input is the same at both.
        var cmp = Cli.Run("compare", "--measure", "procrustes", "--run", runA, "--layers", "input,fc1,fc2", "--out", Path.Combine(_dir, "cmp"), "--json");
        Assert.True(cmp.Code == 0, cmp.Err);
        var c = JsonDocument.Parse(cmp.Out).RootElement;
        Assert.Equal("procrustes", c.GetProperty("measure").GetString());
        Assert.Equal("epoch 0", c.GetProperty("rowModel").GetString());
        Assert.Equal(1.0, c.GetProperty("values")[0][0].GetDouble(), 9);
        Assert.True(c.GetProperty("values")[2][2].GetDouble() < 1 - 1e-6); // training changed the logits
        FileAssert.Png(Path.Combine(_dir, "cmp", "compare.png"));

        // Two models (identical specs and seeds, untrained) through probe cka and probe similarity: the same grammar.
        foreach (var args in new[] { new[] { "cka" }, ["similarity", "--measure", "linreg"] })
        {
            var (code, output, err) = Cli.Run([.. args, "--model-a", "mlp:64-32-10", "--random-weights", "--data", "digits", "--max-samples", "100", "--layers", "fc1,relu1,fc2", "--json"]);
            Assert.True(code == 0, err);
            var v = Values(JsonDocument.Parse(output).RootElement);
            for (int i = 0; i < 3; i++) Assert.Equal(1.0, v[i][i], 6);
        }
    }

    [Fact]
    public void ModelModeWithAnotherMeasureIncludesTheInputAndCapsTheSamples()
    {
        var (code, output, err) = Cli.Run("similarity", "--measure", "svcca", "--model", "mlp:64-32-10", "--random-weights", "--data", "digits", "--layers", "input,fc1", "--json");
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(["input", "fc1"], root.GetProperty("rows").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(1797, root.GetProperty("samples").GetInt32()); // digits has fewer rows than the default cap of 2000
        Assert.Equal(1.0, root.GetProperty("values")[1][1].GetDouble(), 9);
        var text = Cli.Run("similarity", "--measure", "rsa", "--model", "mlp:64-32-10", "--random-weights", "--data", "digits", "--layers", "input,fc1", "--max-samples", "50");
        Assert.True(text.Code == 0, text.Err);
        Assert.Contains("RSA (Spearman of correlation-distance RDMs); full data; 50 samples of digits", text.Out);
    }

    [Fact]
    public void CtrlCStopsALayerStudyWithExitCode130()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ProbeCli.Run(["similarity", "--measure", "svcca", "--model", "mlp:64-32-10", "--random-weights", "--data", "digits"], o, e, cts.Token);
        Assert.Equal(ExitCodes.Cancelled, code);
        Assert.Contains("stopped", e.ToString());
    }

    [Theory]
    [InlineData("similarity", "--measure", "rsa", "--a", "x.npy", "--b", "y.npy", "--kernel", "rbf")]
    [InlineData("similarity", "--measure", "svcca", "--acts-dir", "d", "--method", "minibatch")]
    [InlineData("similarity", "--measure", "cka", "--a", "x.npy", "--b", "y.npy", "--max-samples", "10")]
    [InlineData("similarity", "--measure", "cka", "--run", "r", "--bootstrap", "10")]
    [InlineData("similarity", "--measure", "cka", "--run", "r", "--model", "mlp:64-10", "--random-weights", "--data", "digits")]
    [InlineData("compare", "--measure", "nope", "--run", "r")]
    [InlineData("cka", "--acts-dir", "d", "--split", "train")]
    [InlineData("cka", "--run", "r", "--shard", "0/2", "--method", "minibatch", "--out", "o")]
    public void BadCombinationsExitTwo(params string[] args)
    {
        var (code, _, err) = Cli.Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("probe: ", err);
    }
}
