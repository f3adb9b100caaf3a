using System.Text.Json;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace Probe.Tests.Docs;

/// <summary>
/// Runs the C# code cells of a .NET Interactive notebook (.ipynb) in order, in one script state, against the Probe
/// assemblies this test run loaded. <c>#r</c> and <c>#!</c> lines (kernel directives) are skipped: they only tell
/// a notebook host where Probe's assemblies are.
/// </summary>
internal static class NotebookRunner
{
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Probe.sln"))) return dir.FullName;
        throw new InvalidOperationException("Probe.sln not found above " + AppContext.BaseDirectory);
    }

    public static IReadOnlyList<string> CodeCells(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var cells = new List<string>();
        foreach (var cell in doc.RootElement.GetProperty("cells").EnumerateArray())
        {
            if (cell.GetProperty("cell_type").GetString() != "code") continue;
            var src = cell.GetProperty("source");
            string text = src.ValueKind == JsonValueKind.Array
                ? string.Concat(src.EnumerateArray().Select(s => s.GetString()))
                : src.GetString() ?? "";
            var lines = text.Split('\n').Where(l => !l.TrimStart().StartsWith("#r ", StringComparison.Ordinal) && !l.TrimStart().StartsWith("#!", StringComparison.Ordinal));
            cells.Add(string.Join('\n', lines));
        }
        return cells;
    }

    /// <summary>Runs every code cell in order; returns the final state (its variables can be inspected).</summary>
    public static async Task<ScriptState<object>> RunAsync(string path)
    {
        var options = ScriptOptions.Default
            .AddReferences(typeof(Probe.Matrix).Assembly, typeof(Probe.Reporting.FigureExporter).Assembly,
                           typeof(TorchSharp.torch).Assembly, typeof(System.Linq.Enumerable).Assembly)
            .AddImports("System", "System.IO", "System.Linq", "System.Collections.Generic");
        ScriptState<object>? state = null;
        int i = 0;
        foreach (var code in CodeCells(path))
        {
            i++;
            try
            {
                state = state == null ? await CSharpScript.RunAsync(code, options) : await state.ContinueWithAsync(code, options);
            }
            catch (CompilationErrorException e)
            {
                throw new InvalidOperationException($"{Path.GetFileName(path)} cell {i} does not compile: {string.Join("; ", e.Diagnostics)}", e);
            }
        }
        return state ?? throw new InvalidOperationException(path + " has no code cells.");
    }
}
