using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// Four shards merged equal one run: captured files byte for byte, dead-unit JSON identical (the digits MLP's dead units
/// are also NumPy's, expected.json), minibatch CKA to 1e-6.
/// </summary>
public class ShardMergeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("probe-shards-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    static readonly string[] Model = ["--model", "mlp:64-128-64-32-10:relu", "--weights", Fixture("digits_mlp.safetensors")];

    string D(string name) => Path.Combine(_dir, name);

    (int, string, string) Run(params string[] args) => Cli.Run(args);

    string[] Shards(string command, string[] extra)
    {
        var parts = new List<string>();
        foreach (int i in new[] { 2, 0, 3, 1 }) // any order
        {
            string part = D($"{command}-part{i}");
            var (code, _, err) = Run([command, .. Model, "--data", "digits", "--batch-size", "100", "--shard", $"{i}/4", "--out", part, .. extra]);
            Assert.True(code == 0, err);
            parts.Add(part);
        }
        return parts.ToArray();
    }

    [Fact]
    public void CaptureShardsMergeIntoTheFilesOfOneRunByteForByte()
    {
        var (code, _, err) = Run(["capture", .. Model, "--data", "digits", "--batch-size", "100", "--out", D("one")]);
        Assert.True(code == 0, err);
        var parts = Shards("capture", []);
        (code, _, err) = Run(["merge", .. parts, "--out", D("merged")]);
        Assert.True(code == 0, err);
        foreach (var f in Directory.GetFiles(D("one"), "*.npy"))
            Assert.Equal(File.ReadAllBytes(f), File.ReadAllBytes(Path.Combine(D("merged"), Path.GetFileName(f))));
        Assert.Equal(1797, JsonDocument.Parse(File.ReadAllText(D("merged/layers.json"))).RootElement.GetProperty("samples").GetInt32());
    }

    [Fact]
    public void DeadShardsMergeIntoTheResultOfOneRun()
    {
        var (code, one, err) = Run(["dead", .. Model, "--data", "digits", "--batch-size", "100", "--json"]);
        Assert.True(code == 0, err);
        var parts = Shards("dead", []);
        (code, var merged, err) = Run(["merge", .. parts, "--out", D("merged"), "--json"]);
        Assert.True(code == 0, err);
        var a = JsonDocument.Parse(one).RootElement.GetProperty("layers");
        var b = JsonDocument.Parse(merged).RootElement.GetProperty("layers");
        for (int i = 0; i < a.GetArrayLength(); i++)
        {
            foreach (var key in new[] { "layer", "units", "deadUnits", "dyingUnits", "deadFraction", "sparsity" })
                Assert.Equal(a[i].GetProperty(key).GetRawText(), b[i].GetProperty(key).GetRawText());
            Assert.Equal(a[i].GetProperty("causes").GetRawText(), b[i].GetProperty("causes").GetRawText());
        }
        // expected.json digits_mlp.per_layer.relu2.dead_units (NumPy on PyTorch's outputs).
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 8, 12, 18, 27, 33, 37, 43, 48, 59, 62 }, b[1].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        Assert.True(File.Exists(D("merged/dead.json")));
    }

    [Fact]
    public void MinibatchCkaShardsMergeIntoTheTableOfOneRun()
    {
        var (code, one, err) = Run(["cka", .. Model, "--data", "digits", "--method", "minibatch", "--batch-size", "100", "--layers", "input,fc1,relu2,fc4", "--json"]);
        Assert.True(code == 0, err);
        var parts = Shards("cka", ["--method", "minibatch", "--layers", "input,fc1,relu2,fc4"]);
        (code, var merged, err) = Run(["merge", .. parts, "--out", D("merged"), "--json"]);
        Assert.True(code == 0, err);
        var a = JsonDocument.Parse(one).RootElement.GetProperty("values");
        var b = JsonDocument.Parse(merged).RootElement.GetProperty("values");
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                Assert.Equal(a[i][j].GetDouble(), b[i][j].GetDouble(), 1e-6);
    }

    [Fact]
    public void AMissingShardIsNamed()
    {
        var parts = Shards("dead", []);
        var (code, _, err) = Run(["merge", parts[0], parts[1], parts[3], "--out", D("merged")]);
        Assert.Equal(1, code);
        Assert.Contains("Missing shard", err);
        Assert.False(Directory.Exists(D("merged")));
    }
    /// <summary>
    /// Shards run with other weights, another reduction or another batch size would merge into no run's result: merge
    /// refuses them, naming the option and both values (a weights file by its SHA-256, so a copy of the same file
    /// under another name is the same weights).
    /// </summary>
    [Fact]
    public void ShardsRunWithOtherWeightsOrOptionsAreRefused()
    {
        string Part(string name, string shard, string[] args)
        {
            var (code, _, err) = Run([.. args, "--data", "digits", "--shard", shard, "--out", D(name)]);
            Assert.True(code == 0, err);
            return D(name);
        }
        string copy = D("same-weights.safetensors");
        File.Copy(Fixture("digits_mlp.safetensors"), copy);
        string trained = Part("dead0", "0/2", ["dead", .. Model, "--batch-size", "100"]);
        string random = Part("dead1", "1/2", ["dead", "--model", "mlp:64-128-64-32-10:relu", "--random-weights", "--batch-size", "100"]);
        var (code, _, err) = Run(["merge", trained, random, "--out", D("merged")]);
        Assert.Equal(1, code);
        Assert.Contains("ran with --random-weights true but shard 0/2 with false", err);
        Assert.False(Directory.Exists(D("merged")));
        // The same weights copied under another name merge.
        string copied = Part("dead1b", "1/2", ["dead", "--model", "mlp:64-128-64-32-10:relu", "--weights", copy, "--batch-size", "100"]);
        Assert.Equal(0, Run(["merge", trained, copied, "--out", D("merged")]).Item1);

        string[] cka = ["cka", .. Model, "--method", "minibatch", "--layers", "fc1,relu2"];
        string mean = Part("cka0", "0/2", [.. cka, "--batch-size", "100"]);
        string flat = Part("cka1", "1/2", [.. cka, "--batch-size", "100", "--reduce", "flatten"]);
        (code, _, err) = Run(["merge", mean, flat, "--out", D("merged-cka")]);
        Assert.Equal(1, code);
        Assert.Contains("ran with --reduce Flatten but shard 0/2 with Mean", err);
        // 1,797 samples in two shards of whole batches: 900 + 897 with batches of 100 (9 + 9) or of 300 (3 + 3), so the
        // slices line up and only the recorded batch size tells them apart.
        string big = Part("cka1c", "1/2", [.. cka, "--batch-size", "300"]);
        (code, _, err) = Run(["merge", mean, big, "--out", D("merged-cka")]);
        Assert.Equal(1, code);
        Assert.Contains("--batch-size 300 but shard 0/2 with 100", err);
    }
}
