using System.Text.Json;
using Probe.Data;
using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

/// <summary>
/// Trustworthiness on a fixed uniform subsample (`probe project --quality-samples N`), against scikit-learn:
/// tests/fixtures/quality/make_quality.py re-implements .NET's seeded System.Random and the partial Fisher-Yates pick in
/// Python, chooses the rows and scores them with sklearn.manifold.trustworthiness on the same float32 data.
/// </summary>
public sealed class QualitySubsampleTests : IDisposable
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "quality", name);
    static readonly Lazy<Matrix> X = new(() => Npy.ReadMatrix(Fixture("x.npy")));
    static readonly Lazy<Matrix> Emb = new(() => Npy.ReadMatrix(Fixture("embedding.npy")));
    static double Expected(string key) => JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement.GetProperty(key).GetDouble();

    readonly string dir = Path.Combine(Path.GetTempPath(), "probe-quality-" + Guid.NewGuid().ToString("N"));
    public QualitySubsampleTests() => Directory.CreateDirectory(dir);
    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    [Theory]
    [InlineData(100, 0)]
    [InlineData(100, 7)]
    [InlineData(57, 3)]
    public void ScoresTheRowsAndTheValueScikitLearnGives(int samples, int seed)
    {
        // The rows: the same as the independent Python port of the seeded pick.
        Assert.Equal(Npy.ReadInt32(Fixture($"rows_{samples}_{seed}.npy")), DatasetSampling.UniformIndices(X.Value.Rows, samples, seed));
        var score = SampledTrustworthiness.Compute(X.Value, Emb.Value, 10, samples, seed);
        Assert.Equal((samples, X.Value.Rows, seed, 10), (score.Rows, score.TotalRows, score.Seed, score.K));
        Assert.Equal(Expected($"{samples}_{seed}"), score.Value, 12);
    }

    [Fact]
    public void AsManySamplesAsRowsScoresEveryRow()
    {
        var score = SampledTrustworthiness.Compute(X.Value, Emb.Value, 10, 5000, 0);
        Assert.Equal(X.Value.Rows, score.Rows);
        Assert.Equal(Expected("all"), score.Value, 12);
    }

    [Fact]
    public void TheCommandReportsWhatItScoredAndZeroSkipsIt()
    {
        string emb = Path.Combine(dir, "emb.npy");
        var (code, output, err) = Probe.Tests.Cli.Cli.Run("project", "--method", "pca", "--acts", Fixture("x.npy"), "--quality-samples", "100", "--seed", "7", "--out", emb, "--json");
        Assert.True(code == 0, err);
        var json = JsonDocument.Parse(output).RootElement;
        var q = json.GetProperty("quality");
        Assert.Equal((100, 300, 7, 10), (q.GetProperty("rows").GetInt32(), q.GetProperty("totalRows").GetInt32(), q.GetProperty("seed").GetInt32(), q.GetProperty("k").GetInt32()));
        // The score of Probe's own embedding on those rows (the scoring itself is checked against scikit-learn above).
        var expected = SampledTrustworthiness.Compute(X.Value, Npy.ReadMatrix(emb), 10, 100, 7).Value;
        Assert.Equal(expected, json.GetProperty("trustworthiness").GetDouble(), 12);

        (code, output, err) = Probe.Tests.Cli.Cli.Run("project", "--method", "pca", "--acts", Fixture("x.npy"), "--quality-samples", "0", "--out", emb, "--json");
        Assert.True(code == 0, err);
        json = JsonDocument.Parse(output).RootElement;
        Assert.Equal(JsonValueKind.Null, json.GetProperty("trustworthiness").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("quality").ValueKind);
    }
}
