namespace Probe.Cli;

/// <summary>
/// An output file or folder written under a hidden temporary name next to its final path and renamed into place by
/// <see cref="Commit"/> when complete. Until then it is registered with <see cref="ProbeCli.Pending"/> (removed if the
/// process is stopped), and <see cref="Dispose"/> removes what an interrupted or failed command left. A file keeps its
/// extension (exporters choose the format by it).
/// </summary>
public sealed class StagedOutput : IDisposable
{
    private readonly IDisposable _pending;
    private readonly bool _replace;
    private bool _committed;

    /// <summary>
    /// Stages <paramref name="path"/>: a folder when <paramref name="folder"/>, otherwise a file. A folder staged with
    /// <paramref name="replace"/> replaces the whole final folder on <see cref="Commit"/> (an output that is one whole,
    /// such as a capture, whose earlier files must not linger beside the new ones).
    /// </summary>
    public StagedOutput(string path, bool folder, bool replace = false)
    {
        Final = System.IO.Path.GetFullPath(path).TrimEnd('/');
        IsFolder = folder;
        _replace = replace && folder;
        string parent = System.IO.Path.GetDirectoryName(Final) ?? ".";
        string name = System.IO.Path.GetFileName(Final);
        string tag = ".partial-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Path = System.IO.Path.Combine(parent, folder ? "." + name + tag : "." + System.IO.Path.GetFileNameWithoutExtension(name) + tag + System.IO.Path.GetExtension(name));
        Directory.CreateDirectory(parent);
        Remove(Path);
        if (folder) Directory.CreateDirectory(Path);
        _pending = ProbeCli.Pending(Path);
    }

    /// <summary>Where the output goes when complete.</summary>
    public string Final { get; }

    /// <summary>Where to write it meanwhile.</summary>
    public string Path { get; }

    public bool IsFolder { get; }

    /// <summary>
    /// Moves the output into place. A file replaces the final file; a folder becomes the final folder, or, when that
    /// exists, its entries replace the same-named entries there (other entries are kept) — unless staged to replace,
    /// when the final folder is set aside, the new one moved in, and the old one deleted.
    /// </summary>
    public void Commit()
    {
        if (_committed) return;
        if (!IsFolder) File.Move(Path, Final, overwrite: true);
        else if (_replace && (Directory.Exists(Final) || File.Exists(Final)))
        {
            string old = Path + ".old";
            Remove(old);
            if (Directory.Exists(Final)) Directory.Move(Final, old);
            else File.Move(Final, old);
            Directory.Move(Path, Final);
            Remove(old);
        }
        else if (!Directory.Exists(Final))
        {
            if (File.Exists(Final)) File.Delete(Final);
            Directory.Move(Path, Final);
        }
        else
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(Path).ToList())
            {
                string target = System.IO.Path.Combine(Final, System.IO.Path.GetFileName(entry));
                if (Directory.Exists(entry))
                {
                    Remove(target);
                    Directory.Move(entry, target);
                }
                else File.Move(entry, target, overwrite: true);
            }
            Directory.Delete(Path, true);
        }
        _committed = true;
        _pending.Dispose();
    }

    /// <summary>Removes the temporary output unless it was committed.</summary>
    public void Dispose()
    {
        _pending.Dispose();
        if (!_committed)
        {
            try { Remove(Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void Remove(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, true);
        else if (File.Exists(path)) File.Delete(path);
    }
}
