using System.Globalization;
using Probe.Reporting.Sections;
using Probe.Similarity;

namespace Probe.Cli.Demo;

/// <summary>
/// Layer similarity: linear CKA between every pair of the final main-run model's layers (the input included as a
/// pseudo-layer), and between the untrained (epoch 0) and the final model's layers, on the held-out test rows.
/// </summary>
internal static class CkaSection
{
    public const string Name = "Layer similarity (CKA)";

    public static void Add(DemoContext ctx)
    {
        var run = ctx.Run;
        var test = run.Info.Split.TestIndices;
        var data = test.Length >= 4 ? ctx.Data.Subset(test, ctx.Data.Name + " (test split)") : ctx.Data;
        var study = new CkaStudy(new Cka(), "input,all", MaxSamples: ctx.Quick ? 200 : null, Seed: ctx.Seed);
        int final = run.Checkpoints[^1].Epoch;
        ctx.Log.WriteLine($"CKA: all layer pairs at epoch {final}, and epoch 0 against epoch {final} ...");

        using var trained = run.BuildModel(final);
        using var initial = run.BuildModel(0);
        var within = study.Within(trained, data);
        var cross = study.Cross(initial, trained, data, "epoch 0", $"epoch {final}");

        string samples = within.Samples.ToString(CultureInfo.InvariantCulture);
        ctx.Report.AddFigure(Name, "within", CkaFigures.Heatmap(within.Table, $"Linear CKA between layers, epoch {final}", "layer", "layer"),
            $"Linear CKA between every pair of layers of the trained model (epoch {final}) on {samples} held-out digits; " +
            "'input' is the data itself. Neighbouring layers are similar; similarity to the input fades with depth.",
            CkaFigures.StyleFor(within.Table));
        ctx.Report.AddFigure(Name, "epoch0-vs-final", CkaFigures.Heatmap(cross.Table, $"Linear CKA, epoch 0 vs epoch {final}", "epoch 0 (untrained)", $"epoch {final} (trained)"),
            $"Linear CKA between the untrained network's layers (rows) and the trained network's (columns) on the same {samples} digits. " +
            "The diagonal shows how much each layer changed in training: early layers stay close to their random start, late layers move most.",
            CkaFigures.StyleFor(cross.Table));
        var diagonal = cross.Table.RowLayers.Select((l, i) => (IReadOnlyList<object?>)new object?[] { l, cross.Table.Values[i][i], within.Table.Values[0][i] });
        ctx.Report.AddTable(Name, $"Per layer: CKA(epoch 0, epoch {final}) and CKA(input, layer) at epoch {final}",
            new[] { "layer", "CKA epoch 0 vs final", "CKA with input (final)" }, diagonal);
        ctx.Report.AddJson(Name, "cka", new { within = within.Table, cross = cross.Table, samples = within.Samples, method = within.Method.ToString() });
    }
}
