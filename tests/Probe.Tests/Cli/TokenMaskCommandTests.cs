using System.CommandLine;
using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Xunit;

namespace Probe.Tests.Cli;

/// <summary>
/// <c>--token-mask NAME</c>: parsed on every command that runs a model with --input, mapped onto the library's
/// TokenMask setting, recorded in a capture's layers.json and read back by <c>probe dead --acts-dir</c>. Values against
/// tests/fixtures/onnx/make_masked_pooling.py (PyTorch's masked pooling of a BERT-like model).
/// </summary>
public class TokenMaskCommandTests : IDisposable
{
    readonly string _dir = Cli.TempDir("token-mask");
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string Onnx(string file) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", file);

    static readonly string[] Model =
        ["--model", Onnx("masked_pooling.onnx"), "--input", "attention_mask=" + Onnx("mp_mask.npy"), "--token-mask", "attention_mask"];

    [Theory]
    [InlineData("capture")]
    [InlineData("dead")]
    [InlineData("report")]
    [InlineData("cka")]
    [InlineData("similarity")]
    [InlineData("compare")]
    [InlineData("separability")]
    [InlineData("linear-probe")]
    public void EveryCommandThatRunsAModelOnInputsParsesIt(string command)
    {
        var root = ProbeCli.BuildRoot(new CliContext(TextWriter.Null, TextWriter.Null));
        // capture takes its data as an --input too.
        string[] args = [command, .. Model, .. command == "capture" ? new[] { "--input", "input_ids=" + Onnx("mp_ids.npy") } : ["--data", "npy:" + Onnx("mp_ids.npy")],
            .. command is "similarity" ? new[] { "--measure", "cka" } : [], .. command is "capture" or "report" ? new[] { "--out", Path.Combine(_dir, command) } : []];
        var parsed = root.Parse(args);
        Assert.True(parsed.Errors.Count == 0, string.Join("; ", parsed.Errors.Select(e => e.Message)));
        Assert.Equal("attention_mask", parsed.GetValue<string?>("--token-mask"));
    }

    [Fact]
    public void AMaskThatNoInputGivesIsRefusedWhileParsing()
    {
        var (code, _, err) = Cli.Run("dead", "--model", Onnx("masked_pooling.onnx"), "--input", "attention_mask=" + Onnx("mp_mask.npy"),
            "--token-mask", "mask", "--data", "npy:" + Onnx("mp_ids.npy"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("add --input mask=MASK.npy", err);
        Assert.Contains("the inputs given are attention_mask", err);
    }

    [Fact]
    public void AModelWithoutNamedInputsIsRefusedWhileParsing()
    {
        var (code, _, err) = Cli.Run("dead", "--model", "mlp:64-10:relu", "--random-weights", "--data", "digits", "--token-mask", "attention_mask");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--token-mask names a graph input of an ONNX model", err);
    }

    [Fact]
    public void CaptureRecordsTheMaskAndDeadReadsItBack()
    {
        string dir = Path.Combine(_dir, "cap");
        // The mask is given first: the data feeds input_ids all the same.
        var (code, _, err) = Cli.Run("capture", "--model", Onnx("masked_pooling.onnx"), "--input", "attention_mask=" + Onnx("mp_mask.npy"),
            "--input", "input_ids=" + Onnx("mp_ids.npy"), "--token-mask", "attention_mask", "--layers", "act,fc2,head", "--reduce", "max", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        ReferenceAssert.Close(Npy.ReadMatrix(Onnx("mp_fc2_masked_max.npy")), Npy.ReadMatrix(Path.Combine(dir, "fc2.npy")), "fc2 masked max", 1e-5);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "layers.json")));
        Assert.Equal("attention_mask", doc.RootElement.GetProperty("tokenMask").GetString());
        var layers = doc.RootElement.GetProperty("layers").EnumerateArray().ToDictionary(l => l.GetProperty("name").GetString()!);
        Assert.Equal("attention_mask", layers["fc2"].GetProperty("tokenMask").GetString());
        Assert.Equal(JsonValueKind.Null, layers["head"].GetProperty("tokenMask").ValueKind);

        // act's unit 0 is > 0 on padding tokens only: dead in the masked maxima, and the note says what they are.
        var (dcode, output, derr) = Cli.Run("dead", "--acts-dir", dir, "--layers", "act");
        Assert.True(dcode == 0, derr);
        Assert.Contains("act: dead units 0", output);
        Assert.Contains("over the real tokens among the 5 (those input 'attention_mask' marks 1)", output);
    }

    /// <summary>
    /// capture takes --data with named --input side arrays, as the other commands do (the data feeds the input left
    /// over); it refused the pair ("Give exactly one of --data and --input"). The same PyTorch values as above.
    /// </summary>
    [Fact]
    public void CaptureTakesDataBesideNamedInputs()
    {
        string dir = Path.Combine(_dir, "cap-data");
        var (code, _, err) = Cli.Run(["capture", .. Model, "--data", "npy:" + Onnx("mp_ids.npy"), "--layers", "fc2", "--reduce", "max", "--out", dir, "--quiet"]);
        Assert.True(code == 0, err);
        ReferenceAssert.Close(Npy.ReadMatrix(Onnx("mp_fc2_masked_max.npy")), Npy.ReadMatrix(Path.Combine(dir, "fc2.npy")), "fc2 masked max", 1e-5);
    }

    /// <summary>
    /// A masked capture folder holds token_mask.npy beside its layers: capturing into it again (no --force) was refused
    /// as a folder holding "token_mask.npy, which a capture did not write". It is replaced as any earlier capture is,
    /// with the same PyTorch values.
    /// </summary>
    [Fact]
    public void AMaskedCaptureFolderIsReplacedByTheNextCapture()
    {
        string dir = Path.Combine(_dir, "cap-again");
        string[] args = ["capture", .. Model, "--data", "npy:" + Onnx("mp_ids.npy"), "--layers", "fc2", "--reduce", "max", "--out", dir, "--quiet"];
        var (code, _, err) = Cli.Run(args);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir, "token_mask.npy")));
        (code, _, err) = Cli.Run(args);
        Assert.True(code == 0, err);
        ReferenceAssert.Close(Npy.ReadMatrix(Onnx("mp_fc2_masked_max.npy")), Npy.ReadMatrix(Path.Combine(dir, "fc2.npy")), "fc2 masked max", 1e-5);
    }

    /// <summary>
    /// cka, similarity, compare, separability and linear-probe on the model with --reduce flatten kept every token,
    /// padding included, as features (rows in memory carry no mask): CKA of fc2 and act came out 1.000 with padding in.
    /// Refused now (exit 2), as the same analyses of a flattened masked capture folder are.
    /// </summary>
    [Theory]
    [InlineData("cka")]
    [InlineData("separability")]
    public void AnalysesOfFlattenedMaskedSequencesOnTheModelAreRefused(string command)
    {
        var (code, _, err) = Cli.Run([command, .. Model, "--data", "npy:" + Onnx("mp_ids.npy"), "--reduce", "flatten", "--layers", "fc2,act"]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--reduce flatten keeps every token of a sequence, padding included", err);
        Assert.Contains("--reduce mean, max, first or last", err);
    }

    [Fact]
    public void DeadJudgesUnitsOnRealTokensOnly()
    {
        string[] args = ["dead", "--model", Onnx("masked_pooling.onnx"), "--input", "attention_mask=" + Onnx("mp_mask.npy"), "--data", "npy:" + Onnx("mp_ids.npy"), "--layers", "act", "--json"];
        var (code, masked, err) = Cli.Run([.. args, "--token-mask", "attention_mask"]);
        Assert.True(code == 0, err);
        var (_, all, _) = Cli.Run(args);
        static int[] Dead(string json) => JsonDocument.Parse(json).RootElement.GetProperty("layers")[0].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal([0], Dead(masked));
        Assert.Empty(Dead(all));
        Assert.Contains("any real token (those input 'attention_mask' marks 1)", JsonDocument.Parse(masked).RootElement.GetProperty("firingRule").GetString());
    }

    // A flattened capture of act (every token, padding included) and head (the model's own pooled output, [3]).
    string CaptureFlat(string name, params string[] extra)
    {
        string dir = Path.Combine(_dir, name);
        var (code, _, err) = Cli.Run(["capture", .. Model, "--input", "input_ids=" + Onnx("mp_ids.npy"), "--layers", "act,fc2,head", "--reduce", "flatten", "--out", dir, "--quiet", .. extra]);
        Assert.True(code == 0, err);
        return dir;
    }

    static float[] MaskRows(params int[] rows)
    {
        var mask = (long[])Npy.Read(Onnx("mp_mask.npy")).Data;
        return rows.SelectMany(r => Enumerable.Range(0, 5).Select(t => (float)mask[r * 5 + t])).ToArray();
    }

    [Fact]
    public void AFlattenedCaptureKeepsTheMaskRowsAndDeadJudgesItsRealTokensAsTheModelDoes()
    {
        string dir = CaptureFlat("flat");
        Assert.Equal(MaskRows(0, 1, 2, 3, 4, 5), Npy.ReadMatrix(Path.Combine(dir, "token_mask.npy")).Data);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "layers.json"))))
        {
            Assert.Equal("token_mask.npy", doc.RootElement.GetProperty("tokenMaskFile").GetString());
            // act keeps every token (5 x 16 values per sample): the mask says which are padding.
            var act = doc.RootElement.GetProperty("layers")[0];
            Assert.Equal(80, act.GetProperty("features").GetInt32());
            Assert.Equal("attention_mask", act.GetProperty("tokenMask").GetString());
        }

        var (code, stored, err) = Cli.Run("dead", "--acts-dir", dir, "--layers", "act,fc2", "--json");
        Assert.True(code == 0, err);
        var (mcode, model, merr) = Cli.Run(["dead", .. Model, "--data", "npy:" + Onnx("mp_ids.npy"), "--layers", "act,fc2", "--json"]);
        Assert.True(mcode == 0, merr);
        AssertSameJudgement(model, stored);
        // act's unit 0 is > 0 on padding tokens only.
        Assert.Equal([0], JsonDocument.Parse(stored).RootElement.GetProperty("layers")[0].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
    }

    // Every figure of the two dead-unit results but what only a model's weights tell (the layer feeding each one, causes).
    static void AssertSameJudgement(string expected, string actual)
    {
        string[] weightsOnly = ["causeNote", "causeSummary", "causes", "precedingLayer", "precedingType"];
        using var a = JsonDocument.Parse(expected);
        using var b = JsonDocument.Parse(actual);
        Assert.Equal(a.RootElement.GetProperty("firingRule").GetString(), b.RootElement.GetProperty("firingRule").GetString());
        var la = a.RootElement.GetProperty("layers").EnumerateArray().ToList();
        var lb = b.RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(la.Count, lb.Count);
        for (int i = 0; i < la.Count; i++)
        {
            var keys = la[i].EnumerateObject().Select(p => p.Name).Except(weightsOnly).ToList();
            Assert.Equal(keys.Order(), lb[i].EnumerateObject().Select(p => p.Name).Except(weightsOnly).Order());
            foreach (var k in keys)
                Assert.True(la[i].GetProperty(k).GetRawText() == lb[i].GetProperty(k).GetRawText(), $"{la[i].GetProperty("layer")}.{k}: {la[i].GetProperty(k).GetRawText()} vs {lb[i].GetProperty(k).GetRawText()}");
        }
    }

    [Fact]
    public void ASequenceStoredAsNByTByDIsJudgedOnItsRealTokensToo()
    {
        string dir = CaptureFlat("nxtxd");
        var (_, flat, _) = Cli.Run("dead", "--acts-dir", dir, "--layers", "act", "--json");
        // The same values as a [6, 5, 16] array, as np.save of PyTorch's hook output writes them.
        var act = Npy.ReadMatrix(Path.Combine(dir, "act.npy"));
        Npy.Write(Path.Combine(dir, "act.npy"), new NpyArray(NpyDType.Float32, [6, 5, 16], act.Data));
        var (code, shaped, err) = Cli.Run("dead", "--acts-dir", dir, "--layers", "act", "--json");
        Assert.True(code == 0, err);
        Assert.Equal(flat, shaped);
        var (ccode, _, cerr) = Cli.Run("cka", "--acts-dir", dir, "--layers", "act,head");
        Assert.Equal(ExitCodes.Failure, ccode);
        Assert.Contains("padding included", cerr);
    }

    [Fact]
    public void ShardsAndASampleCapKeepEachSamplesOwnMaskRow()
    {
        string capped = CaptureFlat("capped", "--max-samples", "4", "--seed", "3");
        var rows = Npy.ReadInt32(Path.Combine(capped, "rows.npy"));
        Assert.Equal(MaskRows(rows), Npy.ReadMatrix(Path.Combine(capped, "token_mask.npy")).Data);

        string a = CaptureFlat("s0", "--shard", "0/2", "--batch-size", "2"), b = CaptureFlat("s1", "--shard", "1/2", "--batch-size", "2");
        string merged = Path.Combine(_dir, "merged");
        var (code, _, err) = Cli.Run("merge", a, b, "--out", merged, "--quiet");
        Assert.True(code == 0, err);
        Assert.Equal(MaskRows(0, 1, 2, 3, 4, 5), Npy.ReadMatrix(Path.Combine(merged, "token_mask.npy")).Data);
        var (_, whole, _) = Cli.Run("dead", "--acts-dir", CaptureFlat("whole"), "--layers", "act", "--json");
        var (mcode, fromShards, merr) = Cli.Run("dead", "--acts-dir", merged, "--layers", "act", "--json");
        Assert.True(mcode == 0, merr);
        Assert.Equal(whole, fromShards);
    }

    [Fact]
    public void AFolderThatRecordsAMaskWithoutItsRowsIsRefused()
    {
        string dir = CaptureFlat("nomask");
        File.Delete(Path.Combine(dir, "token_mask.npy"));
        var (code, _, err) = Cli.Run("dead", "--acts-dir", dir, "--layers", "act");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("records a capture with the token mask 'attention_mask'", err);
        Assert.Contains("token_mask.npy", err);
        Assert.Contains("judged on padding", err);
    }

    [Theory]
    [InlineData("cka")]
    [InlineData("linear-probe")]
    public void SimilarityAndProbesRefuseAFlattenedMaskedLayerNamingThePooledCaptures(string command)
    {
        string dir = CaptureFlat("refused-" + command);
        var (code, _, err) = Cli.Run(command, "--acts-dir", dir, "--layers", "act,fc2");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("Layer 'act'", err);
        Assert.Contains("padding included", err);
        Assert.Contains("--reduce mean (or max, first, last)", err);
    }
}
