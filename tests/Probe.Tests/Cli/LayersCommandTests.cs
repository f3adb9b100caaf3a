using System.Text.Json;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// <c>probe layers</c> on a graph with nn.MultiheadAttention (tests/fixtures/onnx/make_mha.py): the attention's
/// sequence-first values ([T, N, D], their first axis unnamed in the graph) are not sites, as a capture finds by
/// running a batch of one and of two. With static input shapes the list is checked on a zero sample; with a dynamic
/// token axis (mha_dyn.onnx) it says it was not checked, unless --input gives a sample.
/// </summary>
public class LayersCommandTests
{
    static string Onnx(string file) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", file);

    const string SequenceFirst = "layer.self_attn.slice#0";
    const string NotChecked = "not checked for sequence-first values";

    [Fact]
    public void AGraphWithStaticInputShapesListsNoSequenceFirstValue()
    {
        var (code, output, err) = Cli.Run("layers", "--model", Onnx("mha.onnx"));
        Assert.True(code == 0, err);
        Assert.Contains("layer.norm1", output);
        Assert.DoesNotContain(SequenceFirst, output);
        Assert.DoesNotContain(NotChecked, output);

        (code, var json, err) = Cli.Run("layers", "--model", Onnx("mha.onnx"), "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        var names = doc.RootElement.GetProperty("sites").EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Contains("layer.norm1", names);
        Assert.DoesNotContain(SequenceFirst, names);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("caveat").ValueKind);
    }

    [Fact]
    public void AGraphWithADynamicTokenAxisSaysItsListWasNotChecked()
    {
        var (code, output, err) = Cli.Run("layers", "--model", Onnx("mha_dyn.onnx"));
        Assert.True(code == 0, err);
        Assert.Contains(SequenceFirst, output);
        Assert.Contains("This list was " + NotChecked, output);
        Assert.Contains("input(s) 'x' have no static per-sample shape", output);

        (code, var json, err) = Cli.Run("layers", "--model", Onnx("mha_dyn.onnx"), "--json");
        Assert.True(code == 0, err);
        Assert.StartsWith(NotChecked, JsonDocument.Parse(json).RootElement.GetProperty("caveat").GetString());
    }

    [Fact]
    public void GivenASampleTheListIsCheckedOnIt()
    {
        var (code, output, err) = Cli.Run("layers", "--model", Onnx("mha_dyn.onnx"), "--input", Onnx("mha_x.npy"));
        Assert.True(code == 0, err);
        Assert.Contains("layer.norm1", output);
        Assert.DoesNotContain(SequenceFirst, output);
        Assert.DoesNotContain(NotChecked, output);
    }
}
