module shortlived

go 1.19
