module example.com/resultcount

go 1.19
