using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary><c>probe similarity</c> over every pair of stored layers: linear CKA equals NumPy's table (expected.json).</summary>
public class SimilarityLayersCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("probe-sim-layers-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public void ActsDirAllPairsLinearCkaEqualsNumPysTable()
    {
        foreach (var layer in new[] { "fc1", "relu1", "fc4" })
            File.Copy(Fixture($"digits_{layer}.npy"), Path.Combine(_dir, layer + ".npy"));
        var (code, output, err) = Cli.Run("similarity", "--measure", "cka", "--acts-dir", _dir, "--max-samples", "5000", "--out", Path.Combine(_dir, "out"), "--json");
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output).RootElement;
        var rows = root.GetProperty("rows").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(new[] { "fc1", "fc4", "relu1" }, rows);
        // expected.json digits_mlp.linear_cka_matrix (NumPy on PyTorch's outputs), in digits_mlp.layers order.
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement.GetProperty("digits_mlp");
        var order = expected.GetProperty("layers").EnumerateArray().Select(e => e.GetString()!).ToList();
        var values = root.GetProperty("values");
        for (int i = 0; i < rows.Length; i++)
            for (int j = 0; j < rows.Length; j++)
                Assert.Equal(expected.GetProperty("linear_cka_matrix")[order.IndexOf(rows[i])][order.IndexOf(rows[j])].GetDouble(), values[i][j].GetDouble(), 1e-6);
        Assert.True(File.Exists(Path.Combine(_dir, "out", "similarity.png")));
    }
}
