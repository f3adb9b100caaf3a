using System.CommandLine;
using System.Globalization;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting;
using Probe.Reporting.Sections;

namespace Probe.Cli.Commands;

/// <summary><c>probe evolution</c>: the layer-evolution grid (rows = checkpoints, columns = layers) of a training run.</summary>
internal static class EvolutionCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = CliOptions.Run(required: true);
        var data = CliOptions.OptionalData("Data source (default: the run's own data): " + CliOptions.DataKinds + ".");
        var layers = new Option<string?>("--layers") { Description = "Layer selector (default: every hidden activation and the output layer)." };
        var method = new Option<string>("--method") { Description = "pca or tsne.", DefaultValueFactory = _ => "pca" };
        method.AcceptOnlyFromAmong("pca", "tsne");
        var maxSamples = new Option<int>("--max-samples") { Description = "Samples shown in every panel (stratified, seeded).", DefaultValueFactory = _ => 1000 }.AtLeast(8);
        var seed = CliOptions.Seed();
        var epochs = new Option<string?>("--epochs") { Description = "Checkpoints to show: comma-separated epochs ('last' or 'final' for the last checkpoint), 'all', or default (first, 1, 2, 5, 10, ..., last; at most 6)." }
            .Check(t => t.Trim().Equals("all", StringComparison.OrdinalIgnoreCase) ? null : CliOptions.EpochList(t, "last", "final"));
        var input = new Option<bool>("--include-input") { Description = "Add the input features as a first column." };
        var perplexity = new Option<double>("--perplexity") { Description = "t-SNE perplexity.", DefaultValueFactory = _ => 30 }.AtLeast(double.Epsilon);
        var qualitySamples = CliOptions.QualitySamples("each panel's trustworthiness (k=10)");
        var title = new Option<string?>("--title") { Description = "Figure title." };
        var saveData = new Option<string?>("--save-data") { Description = "Also write the coordinates and scores as JSON to this file." }.Check(CliOptions.Writable);
        var json = CliOptions.Json();
        var outPath = CliOptions.Out(required: true, "The figure: FIG.png, FIG.svg or FIG.pdf.");
        var fig = new FigureOptions();
        var device = CliOptions.Device();
        var cmd = new Command("evolution", "Draw how each layer's 2-D projection of the same samples evolves over a run's checkpoints.")
            { run, data, layers, method, maxSamples, seed, epochs, input, perplexity, qualitySamples, title, saveData, json, outPath, device };
        fig.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            string? o = r.GetValue(outPath);
            if (o != null && !FigureOptions.IsFigure(o)) r.AddError($"--out must end in .png, .svg or .pdf, not '{o}'.");
        });
        cmd.SetAction(p =>
        {
            var folder = RunFolder.Load(p.GetValue(run)!);
            // The run's own data unless --data names other data (what the study reads; its class names name the legend).
            var dataset = CliOptions.LoadData(p.GetValue(data) ?? folder.Info.Data);
            var study = new EvolutionStudy(
                Layers: p.GetValue(layers),
                Method: p.GetValue(method) == "tsne" ? ProjectionMethod.Tsne : ProjectionMethod.Pca,
                MaxSamples: p.GetValue(maxSamples),
                Seed: p.GetValue(seed),
                Epochs: ParseEpochs(p.GetValue(epochs), folder),
                IncludeInput: p.GetValue(input),
                Perplexity: p.GetValue(perplexity),
                QualitySamples: p.GetValue(qualitySamples)) { Device = CliOptions.DeviceOf(p, device), Cancellation = ctx.Cancel, Progress = ctx.Report("evolution panels") };
            var result = study.Run(folder, dataset);
            var figure = EvolutionFigures.Grid(result, dataset.ClassNames?.ToArray(), title: p.GetValue(title), basis: fig.Style(p, FigureStyle.Page));
            string o = p.GetValue(outPath)!;
            // Both outputs are written under temporary names and renamed only when both are complete.
            using var stagedFigure = ctx.Stage(o, folder: false);
            using var stagedData = p.GetValue(saveData) is string sd ? ctx.Stage(sd, folder: false) : null;
            figure.Save(stagedFigure.Path);
            if (stagedData != null) JsonOutput.Write(stagedData.Path, result, "evolution data");
            ctx.Cancel.ThrowIfCancellationRequested();
            stagedFigure.Commit();
            stagedData?.Commit();
            var summary = result.Panels.SelectMany(r => r).Select(q => new { q.Epoch, q.Layer, q.Features, q.ExplainedVarianceRatio, q.KlDivergence, q.Trustworthiness }).ToArray();
            if (p.GetValue(json))
                ctx.Out.WriteLine(JsonOutput.Serialize(new { method = result.Method.ToString().ToLowerInvariant(), samples = result.SampleIndices.Length, epochs = result.Epochs, layers = result.Layers, result.Perplexity, trustworthinessScoredOn = result.Quality, panels = summary, output = o }));
            else
            {
                foreach (var q in result.Panels.SelectMany(r => r))
                    ctx.Out.WriteLine($"epoch {q.Epoch,4}  {q.Layer,-12} {q.Features,5} features  {q.Summary,-14}" + (q.Trustworthiness is double t ? $"  trustworthiness {CliOptions.F(t, "F3")}" : ""));
                if (result.Quality != null) ctx.Out.WriteLine($"Trustworthiness scored on {result.Quality}.");
                ctx.Out.WriteLine($"Wrote {o} ({result.Epochs.Length} x {result.Layers.Length} panels, {result.SampleIndices.Length} samples)");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    static int[]? ParseEpochs(string? text, RunFolder run)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return run.Checkpoints.Select(c => c.Epoch).ToArray();
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("last", StringComparison.OrdinalIgnoreCase) || part.Equals("final", StringComparison.OrdinalIgnoreCase)) { list.Add(run.Checkpoints[^1].Epoch); continue; }
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int e))
                throw new ProbeException($"--epochs: '{part}' is not an epoch number; use e.g. 0,1,5,last or all.");
            list.Add(e);
        }
        return list.Distinct().ToArray();
    }
}
