using System.CommandLine;
using Probe.Analysis;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary><c>probe separability</c>: the class-separability ratio and the Fisher trace ratio of each layer.</summary>
internal static class SeparabilityCommand
{
    public static Command Create(CliContext ctx)
    {
        var inputs = new LayerInputs();
        var noFisher = new Option<bool>("--no-fisher") { Description = "Skip the Fisher trace ratio (it costs features^2 memory and features^3 time; it is left out by itself, as '-', where a layer has more features than samples - classes)." };
        var lambda = new Option<double>("--fisher-lambda") { Description = "Relative ridge of the Fisher trace ratio.", DefaultValueFactory = _ => 1e-3 }
            .Satisfies(l => l >= 0 && double.IsFinite(l), "finite and 0 or more");
        var json = CliOptions.Json();
        var cmd = new Command("separability",
            "Class separability per layer: between / within class scatter (ratio) and the scale-invariant Fisher trace ratio tr(Sw^-1 Sb).")
            { noFisher, lambda, json };
        inputs.AddTo(cmd);
        cmd.SetAction(p =>
        {
            bool fisher = !p.GetValue(noFisher);
            double l = p.GetValue(lambda);
            var checkpoints = new List<(LayerSet Set, SeparabilityResult[] Layers)>();
            foreach (var set in inputs.Load(p, null, ctx))
            {
                var report = ctx.Report(set.Checkpoint is { } cp ? $"separability (epoch {cp.Epoch})" : "separability");
                checkpoints.Add((set, set.Layers.Select((t, i) =>
                {
                    ctx.Cancel.ThrowIfCancellationRequested();
                    var r = RepresentationStudy.Separability(t.Layer, t.Features, set.Labels, fisher, l);
                    report(i + 1, set.Layers.Count);
                    return r;
                }).ToArray()));
            }
            if (p.GetValue(json))
            {
                ctx.Out.WriteLine(JsonOutput.Serialize(new
                {
                    checkpoints = checkpoints.Select(c => new { epoch = c.Set.Checkpoint?.Epoch, networkTrainAccuracy = c.Set.Checkpoint?.TrainAccuracy, layers = c.Layers }),
                }, "the separability results"));
                return ExitCodes.Ok;
            }
            bool run = checkpoints.Any(c => c.Set.Checkpoint != null);
            var headers = new List<string> { "layer", "features", "samples", "ratio", "between", "within", "Fisher tr" };
            if (run) headers.Insert(0, "epoch");
            var rows = checkpoints.SelectMany(c => c.Layers.Select(r =>
            {
                var cells = new List<string> { r.Layer, Cell(r.Features), Cell(r.Samples), TextTable.Number(r.Ratio), TextTable.Number(r.Between), TextTable.Number(r.Within),
                    r.FisherTraceRatio is double f ? TextTable.Number(f) : "-" };
                if (run) cells.Insert(0, LayerInputs.Label(c.Set));
                return (IReadOnlyList<string>)cells;
            }));
            ctx.Out.Write(TextTable.Render(headers, rows));
            ctx.Out.WriteLine("ratio = between / within class scatter (scale-dependent); Fisher tr = tr((Sw + lambda diag Sw)^-1 Sb), invariant to rescaling features.");
            if (fisher && checkpoints.Any(c => c.Layers.Any(r => r.FisherTraceRatio is null)))
                ctx.Out.WriteLine("Fisher tr '-': undefined for that layer: more features than samples - classes (or collinear features) make the within-class scatter singular.");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static string Cell(object v) => TextTable.Cell(v);
}
